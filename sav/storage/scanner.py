"""Virus scanning of uploads with clamd, over its documented INSTREAM protocol.

`zINSTREAM\\0`, then the file as chunks each prefixed by its length (4 bytes, big-endian),
then a zero length; clamd answers `stream: OK`, `stream: <signature> FOUND` or
`... ERROR` (a file over clamd's `StreamMaxLength` is one: "INSTREAM size limit
exceeded"). Anything but OK or FOUND, a refused connection or no answer in time is
`ScannerUnavailableError`: a file is never called clean unless clamd said so.

`NoScanner` is the null scanner (no clamd configured): every upload goes through it
too, so a caller cannot forget the step, and its files are recorded `scanned: false`
(docs/decisions/0110-virus-scanning.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger("sav.scanner")

CHUNK_BYTES = 64 * 1024
DEFAULT_TIMEOUT_S = 30.0
PING_TIMEOUT_S = 3.0
# clamd answers one line, NUL-terminated with the `z` commands.
MAX_REPLY_BYTES = 4096

Outcome = Literal["clean", "infected", "unscanned", "error"]


# Told of each outcome (the API's Prometheus counter).
Observer = Callable[[Outcome], None]


class ScannerUnavailableError(Exception):
    """clamd could not be reached, timed out or could not scan the file (503)."""


@dataclass(frozen=True)
class Verdict:
    """What the scanner said of one file: `signature` is set when it is infected;
    `scanned` is false when no scanner looked at it (none configured, or fail-open)."""

    scanned: bool
    signature: str | None = None

    @property
    def infected(self) -> bool:
        return self.signature is not None


CLEAN = Verdict(scanned=True)
UNSCANNED = Verdict(scanned=False)


class Scanner(Protocol):
    configured: bool
    observers: list[Observer]

    async def scan(self, data: bytes) -> Verdict:
        """The verdict on `data`, or ScannerUnavailableError."""
        ...

    async def ping(self) -> bool:
        """clamd answers (for `/status`); True when no scanner is configured."""
        ...


class NoScanner:
    """No clamd configured: every file is stored unscanned."""

    configured = False

    def __init__(self) -> None:
        self.observers: list[Observer] = []

    async def scan(self, data: bytes) -> Verdict:
        return UNSCANNED

    async def ping(self) -> bool:
        return True


class ClamdScanner:
    """clamd over TCP (`host`, `port`) or a Unix socket (`socket_path`), one connection
    per file. `fail_open`: an unreachable clamd lets files through unscanned."""

    configured = True

    def __init__(self, *, host: str | None = None, port: int = 3310,
                 socket_path: str | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                 fail_open: bool = False) -> None:
        if not host and not socket_path:
            raise ValueError("clamd needs a host or a socket path")
        self.host, self.port, self.socket_path = host, port, socket_path
        self.timeout, self.fail_open = timeout, fail_open
        self.observers: list[Observer] = []

    @property
    def address(self) -> str:
        return f"unix:{self.socket_path}" if self.socket_path else f"{self.host}:{self.port}"

    async def scan(self, data: bytes) -> Verdict:
        try:
            reply = await asyncio.wait_for(self._instream(data), self.timeout)
            verdict = _verdict(reply)
        except (OSError, TimeoutError, ScannerUnavailableError) as error:
            why = str(error) or type(error).__name__
            if self.fail_open:
                log.warning("clamd at %s failed (%s): file stored unscanned "
                            "(SAV_CLAMAV_FAIL_OPEN)", self.address, why)
                self._tell("unscanned")
                return UNSCANNED
            log.warning("clamd at %s failed: %s", self.address, why)
            self._tell("error")
            raise ScannerUnavailableError(f"the virus scanner is unavailable: {why}") from None
        self._tell("infected" if verdict.infected else "clean")
        return verdict

    async def ping(self) -> bool:
        try:
            reader, writer = await asyncio.wait_for(self._connect(), PING_TIMEOUT_S)
            try:
                writer.write(b"zPING\0")
                reply = await asyncio.wait_for(reader.readuntil(b"\0"), PING_TIMEOUT_S)
            finally:
                await _close(writer)
        except (OSError, TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            return False
        return reply == b"PONG\0"

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.socket_path:
            return await asyncio.open_unix_connection(self.socket_path)
        assert self.host is not None
        return await asyncio.open_connection(self.host, self.port)

    async def _instream(self, data: bytes) -> str:
        reader, writer = await self._connect()
        try:
            writer.write(b"zINSTREAM\0")
            view = memoryview(data)
            for start in range(0, len(view), CHUNK_BYTES):
                chunk = view[start:start + CHUNK_BYTES]
                writer.write(struct.pack(">I", len(chunk)))
                writer.write(chunk)
                # clamd closes the connection mid-stream past StreamMaxLength: the
                # drain then fails, and its reply (if any) still says why.
                try:
                    await writer.drain()
                except ConnectionError:
                    break
            else:
                writer.write(struct.pack(">I", 0))
                await writer.drain()
            return await _reply(reader)
        finally:
            await _close(writer)

    def _tell(self, outcome: Outcome) -> None:
        for observer in self.observers:
            observer(outcome)


async def _reply(reader: asyncio.StreamReader) -> str:
    raw = await reader.read(MAX_REPLY_BYTES)
    if not raw:
        raise ScannerUnavailableError("clamd closed the connection without an answer")
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()


def _verdict(reply: str) -> Verdict:
    """`stream: OK` → clean; `stream: <signature> FOUND` → infected; else an error."""
    if reply == "stream: OK":
        return CLEAN
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        return Verdict(scanned=True, signature=reply[len("stream: "):-len(" FOUND")])
    raise ScannerUnavailableError(f"clamd answered {reply[:200]!r}")


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def build_scanner(*, host: str | None, port: int, socket_path: str | None,
                  timeout: float, fail_open: bool) -> Scanner:
    """The scanner the settings ask for: clamd when a host or a socket is set (the
    socket wins), else `NoScanner`."""
    if socket_path or host:
        return ClamdScanner(host=None if socket_path else host, port=port,
                            socket_path=socket_path or None, timeout=timeout,
                            fail_open=fail_open)
    return NoScanner()
