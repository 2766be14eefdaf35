"""A real SMTP relay for the mail tests: aiosmtpd on a free port of 127.0.0.1 that keeps
every mail it is handed, parsed with the standard library's modern policy."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.services import free_port


@dataclass
class Sink:
    port: int
    mails: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content,
                                     policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.mails.append(message)
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[EmailMessage]:
        """The first `count` mails, once they came (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.mails) >= count:
                    return list(self.mails)
            time.sleep(0.05)
        raise AssertionError(f"{count} mails expected, {len(self.mails)} came")


@contextlib.contextmanager
def smtp_sink() -> Iterator[Sink]:
    sink = Sink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
