"""Benchmark: upload throughput with virus scanning on next to off (issue 27). Not a
test: it prints figures.

    python scripts/bench/uploads.py [--profiles sqlite,mysql] [--sizes-kb 4,256,2048]
        [--duration 10] [--connections 4] [--cpus 0]

Per profile and file size, a real `sav serve` (one process) on a throwaway store, once
without a scanner and once with a throwaway clamd (Debian's `clamav-daemon`, started as
the tests start it: tests/support/clamd.py); wrk posts the same multipart body (a text
file of that size) to `POST /tickets/{id}/attachments` over 20 tickets for `--duration`
seconds: uploads/s, MB/s and latency. Then clamd alone: sequential INSTREAM scans of the
same file, what scanning adds per file at best.

clamd here holds one signature (no download is possible here); a production clamd with
the full signature set spends more per byte, so the gap measured here is a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from sav_process import Api, SavServer, issue_token, new_jwt_secret, open_store
from wrk_client import Wrk

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the clamd the tests start, and sav's own client

from sav.storage.scanner import ClamdScanner  # noqa: E402
from tests.support.clamd import start_clamd  # noqa: E402

BOUNDARY = "savbenchboundary7MA4YWxkTrZu0gW"
TICKETS = 20


def multipart(size: int) -> str:
    line = "2026-12-07 12:00:00 INFO upload benchmark line, nothing to see here\n"
    text = (line * (size // len(line) + 1))[:size]
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"app.log\"\r\nContent-Type: text/plain\r\n\r\n{text}\r\n"
            f"--{BOUNDARY}--\r\n")


def measure(profile: str, size: int, clamd_env: dict[str, str], args: argparse.Namespace
            ) -> tuple[float, float, float, float, dict[int, int]]:
    """(uploads/s, MB/s, p50 ms, p99 ms, non-201 codes) of one server."""
    with open_store(profile, new_jwt_secret()) as store:
        store.env.update(clamd_env)
        with SavServer(store, cpus=args.cpus) as server:
            token = issue_token(store.env, "bench-owner", "customer")
            api = Api(server.base)
            paths = [f"/tickets/{api.ok('POST', '/tickets', token, {'subject': 'Logs', 'description': 'attached'})['id']}/attachments"  # noqa: E501
                     for _ in range(TICKETS)]
            result = Wrk(args.wrk_cpus).run(
                server.base, connections=args.connections, seconds=args.duration,
                method="POST", body=multipart(size), paths=paths,
                threads=min(args.connections, 2),
                headers={"Authorization": f"Bearer {token}",
                         "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
            errors = server.errors()
    if errors:
        print("   server errors:", *errors, sep="\n     ")
    created = result.codes.get(201, 0)
    rate = created / result.seconds
    others = {code: n for code, n in result.codes.items() if code != 201}
    return rate, rate * size / 1e6, result.p50_ms, result.p99_ms, others


def scan_only(port: int, size: int, seconds: float) -> tuple[float, float]:
    """(scans/s, mean ms per scan) of sequential INSTREAM scans straight to clamd."""
    data = multipart(size).encode()[:size]
    scanner = ClamdScanner(host="127.0.0.1", port=port)

    async def run() -> tuple[int, float]:
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            verdict = await scanner.scan(data)
            assert verdict.scanned and not verdict.infected, verdict
            count += 1
        return count, time.perf_counter() - started

    count, elapsed = asyncio.run(run())
    return count / elapsed, elapsed / count * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="sqlite")
    parser.add_argument("--sizes-kb", default="4,256,2048")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--cpus", default=None, help="taskset CPUs of `sav serve`")
    parser.add_argument("--wrk-cpus", default=None, help="taskset CPUs of wrk")
    args = parser.parse_args()
    sizes = [int(kb) * 1024 for kb in args.sizes_kb.split(",")]
    clamd = start_clamd()
    try:
        print(f"{'profile':8} {'file':>8} {'scan':5} {'uploads/s':>10} {'MB/s':>7} "
              f"{'p50 ms':>8} {'p99 ms':>8}  other statuses")
        for profile in args.profiles.split(","):
            for size in sizes:
                for label, env in (("off", {}), ("on", clamd.env)):
                    rate, mbs, p50, p99, others = measure(profile, size, env, args)
                    print(f"{profile:8} {size // 1024:>6}KB {label:5} {rate:>10.1f} "
                          f"{mbs:>7.2f} {p50:>8.1f} {p99:>8.1f}  {others or ''}", flush=True)
        print("\nclamd alone (sequential INSTREAM, one connection per file):")
        for size in sizes:
            rate, mean = scan_only(clamd.port, size, min(args.duration, 5.0))
            print(f"  {size // 1024:>6}KB {rate:>8.1f} scans/s {mean:>8.2f} ms/scan")
    finally:
        clamd.stop()


if __name__ == "__main__":
    main()
