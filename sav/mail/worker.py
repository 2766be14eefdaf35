"""`sav worker mail`: the inbound SMTP listener (when SAV_INBOUND_SMTP_PORT is set) and
the outbound sender (one active per database, by lease), each in its own thread."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from sav.commands.app import SavApplication
from sav.config import Settings
from sav.mail import listener, outbound
from sav.storage import build_blob_store
from sav.storage.lifecycle import Storage


def build_storage(settings: Settings) -> Storage:
    """The listener's own blob store and scanner, configured as the API's."""
    from sav.bootstrap import scanner_for  # the API's choice of scanner, not a copy of it

    return Storage(build_blob_store(
        minio_endpoint=settings.minio_endpoint, access_key=settings.minio_access_key,
        secret_key=settings.minio_secret_key, bucket=settings.minio_bucket,
        region=settings.minio_region, data_dir=settings.data_dir,
        base_url=settings.public_base_url or f"http://127.0.0.1:{settings.app_port}",
        secret=settings.signing_secret(), public_endpoint=settings.minio_public_endpoint),
        scanner_for(settings))


def run(app: SavApplication, engine: Engine, settings: Settings,
        stop: threading.Event) -> None:
    threads = []
    if settings.inbound_smtp_port:
        threads.append(threading.Thread(
            target=listener.run, args=(app, settings, stop, lambda: build_storage(settings)),
            name="sav-mail-listener", daemon=True))
        threads[-1].start()
    outbound.run(app, engine, settings, stop)
    for thread in threads:
        thread.join(timeout=5.0)
