"""Workers that `sav serve` runs inside the API process (unless SAV_INPROCESS_WORKERS=false)."""

from __future__ import annotations

from sav.runtime import Runtime


def start_inprocess_workers(runtime: Runtime) -> None:
    runtime.start_projector()
    from sav.workers import scheduler

    scheduler.start_in_process(runtime)
    if runtime.settings.rabbitmq_host:
        from sav.workers import consumer, publisher

        publisher.start_in_process(runtime)
        consumer.start_in_process(runtime)
