"""Ceilings that go through sav's own storage layers, each run in a subprocess on the
store's settings (so the figures measure this checkout, and nothing stays loaded):

- `save`: the eventsourcing library's own `Application.save()` of a new small aggregate
  through SAV's persistence module (factory, recorder), transcoder and mapper, no HTTP,
  on N threads: what any event-sourced write costs here. It writes into a database of
  its own (a `_save` MariaDB database, a file beside the store), never the store's.
- `scan`: every stored event of the store read in pages and turned into its domain
  event by SAV's mapper (decryption included), nothing else: what a replay can't beat.

    python scripts/bench/library.py save --threads 8 --seconds 3 --database URL
    python scripts/bench/library.py scan

Each prints one JSON object. `hot_paths.py` calls them through `save_rate`/`scan_rate`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from ceilings import taskset

HERE = os.path.dirname(os.path.abspath(__file__))


def _run(env: dict[str, str], cpus: str | None, *args: str) -> dict[str, Any]:
    done = subprocess.run([*taskset(cpus), sys.executable, os.path.join(HERE, "library.py"),
                           *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"library.py {args[0]} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def save_rate(env: dict[str, str], database_url: str, threads: int, seconds: float,
              cpus: str | None = None) -> tuple[float, float]:
    """(saves/s, ms of the process's CPU per save) of new small aggregates, `threads`
    threads in a loop."""
    result = _run(env, cpus, "save", "--threads", str(threads), "--seconds", str(seconds),
                  "--database", database_url)
    return float(result["rate"]), float(result["cpu_ms"])


def scan_rate(env: dict[str, str], cpus: str | None = None) -> tuple[int, float]:
    """(events, events/s) of reading and decoding every stored event of the store."""
    result = _run(env, cpus, "scan")
    return int(result["events"]), float(result["rate"])


# -- in the subprocess ------------------------------------------------------------------

def _save(threads: int, seconds: float, database_url: str) -> dict[str, Any]:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Note(Aggregate):
        @event("Written")
        def __init__(self, title: str, body: str) -> None:
            self.title = title
            self.body = body

    app: Application[Any] = Application(env={
        "PERSISTENCE_MODULE": "sav.eventstore.factory",
        "SAV_DATABASE_URL": database_url,
        "TRANSCODER_TOPIC": "sav.eventstore.transcoder:OrjsonTranscoder",
        "MAPPER_TOPIC": "sav.eventstore.transcoder:PrivacyMapper",
        "AGGREGATE_CACHE_MAXSIZE": "0",
    })
    body = "x" * 300
    for _ in range(20):  # connections made, statements compiled
        app.save(Note("warm-up", body))
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def loop(slot: int) -> None:
        while time.perf_counter() < deadline:
            app.save(Note("bench", body))
            counts[slot] += 1

    started, cpu = time.perf_counter(), time.process_time()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    app.close()
    return {"rate": sum(counts) / elapsed, "saves": sum(counts),
            "cpu_ms": 1000 * cpu / max(1, sum(counts))}


def _scan(page: int = 5000) -> dict[str, Any]:
    from sav.bootstrap import bootstrap
    from sav.config import load_settings

    services = bootstrap(load_settings())
    recorder, mapper = services.app.recorder, services.app.mapper
    events, start = 0, 0
    started = time.perf_counter()
    while notifications := recorder.select_notifications(start, page,
                                                         inclusive_of_start=False):
        for notification in notifications:
            mapper.to_domain_event(notification)
        events += len(notifications)
        start = notifications[-1].id
    elapsed = time.perf_counter() - started
    services.close()
    return {"events": events, "rate": events / elapsed if elapsed else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    save = sub.add_parser("save")
    save.add_argument("--threads", type=int, default=1)
    save.add_argument("--seconds", type=float, default=3.0)
    save.add_argument("--database", required=True, help="SQLAlchemy URL of a scratch store")
    sub.add_parser("scan")
    args = parser.parse_args()
    result = (_save(args.threads, args.seconds, args.database) if args.what == "save"
              else _scan())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
