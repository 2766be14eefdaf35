"""`sav worker mail`: the inbound SMTP listener (when SAV_INBOUND_SMTP_PORT is set) and
the outbound sender (one active per database, by lease), each in its own thread."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from sav.commands.app import SavApplication
from sav.config import Settings
from sav.mail import listener, outbound


def run(app: SavApplication, engine: Engine, settings: Settings,
        stop: threading.Event) -> None:
    threads = []
    if settings.inbound_smtp_port:
        threads.append(threading.Thread(target=listener.run, args=(app, settings, stop),
                                        name="sav-mail-listener", daemon=True))
        threads[-1].start()
    outbound.run(app, engine, settings, stop)
    for thread in threads:
        thread.join(timeout=5.0)
