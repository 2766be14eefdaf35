"""A real S3 endpoint for tests: moto's standalone server over HTTP.

Running it in a subprocess (rather than ``mock_aws`` patching botocore) makes
the tests exercise the same aiohttp transport, signing and presigned URLs as
production against MinIO.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import httpx

EXISTING_ENDPOINT_VAR = "SAV_TEST_S3_ENDPOINT"
_STARTUP_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 5.0


class S3ServerError(RuntimeError):
    """moto did not come up; raised so the test run fails instead of skipping."""


@contextmanager
def run_moto_server() -> Iterator[str]:
    """Yield an S3 endpoint URL: ``$SAV_TEST_S3_ENDPOINT`` if set, else a fresh moto."""
    existing = os.environ.get(EXISTING_ENDPOINT_VAR)
    if existing:
        yield existing
        return
    with tempfile.TemporaryDirectory(prefix="sav-moto-") as log_dir:
        log_path = Path(log_dir) / "moto.log"
        with log_path.open("wb") as log:
            endpoint, process = _spawn(log)
            try:
                _wait_until_answering(endpoint, process, log_path)
                yield endpoint
            finally:
                _stop(process)


def _spawn(log: BinaryIO) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    # Output goes to a file, not a pipe: werkzeug logs every request and a
    # pipe nobody drains would eventually block the server.
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    return f"http://127.0.0.1:{port}", process


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_answering(endpoint: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise S3ServerError(f"moto exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            # Any HTTP answer at all means the server is accepting requests.
            httpx.get(f"{endpoint}/moto-api/", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    _stop(process)
    raise S3ServerError(f"moto did not answer within {_STARTUP_TIMEOUT_S}s:\n{_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(log_path: Path, limit: int = 4000) -> str:
    return log_path.read_text(errors="replace")[-limit:]
