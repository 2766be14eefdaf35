"""Benchmark: a ticket's history and its past versions over HTTP (issue 11), on a ticket
of 1,000 events. Not a test: it prints figures.

    python scripts/bench/history.py [--profiles sqlite,mysql] [--events 1000]
        [--duration 10] [--connections 8]

Per profile, a real `sav serve` (one process) on a throwaway store; the ticket is built
over HTTP (customer and agent messages, internal notes, edits of `internal_notes`), then
wrk asks the same URL for `--duration` seconds: req/s and the median latency. The rows:
the history's first and last pages (the last one folds the whole stream first), a
customer's first page (staff-only entries filtered), the ticket at its head version
(`?version=`, a fold of every event) and the plain GET (from the cached view) to compare;
then one client walks every page of the history, back to back.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
import urllib.parse

from sav_process import Api, SavServer, issue_token, new_jwt_secret, open_store

ROLES = {"admin": ("bench-admin", "admin"), "agent": ("bench-agent", "agent"),
         "customer": ("bench-owner", "customer")}
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def build_ticket(api: Api, tokens: dict[str, str], events: int) -> str:
    """A ticket of exactly `events` events, its owner `bench-owner`."""
    ticket = api.ok("POST", "/tickets", tokens["customer"],
                    {"subject": "A long story", "description": "It keeps going"})
    path = f"/tickets/{ticket['id']}"
    api.ok("POST", f"{path}/assign", tokens["admin"], {"agent_id": ROLES["agent"][0]})
    for i in range(events - 2):
        kind = i % 4
        if kind == 0:
            api.ok("POST", f"{path}/messages", tokens["customer"], {"content": f"still {i}"})
        elif kind == 1:
            api.ok("POST", f"{path}/messages", tokens["agent"], {"content": f"looking {i}"})
        elif kind == 2:
            api.ok("POST", f"{path}/messages", tokens["agent"],
                   {"content": f"note {i}", "is_internal": True})
        else:
            api.ok("PUT", path, tokens["agent"], {"internal_notes": f"notes {i}"})
    version = api.ok("GET", path, tokens["admin"])["version"]
    assert version == events, version
    return str(ticket["id"])


def wrk(url: str, token: str, duration: int, connections: int) -> tuple[float, float]:
    """(requests per second, median latency in ms) of wrk on one URL."""
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency",
         "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, check=True)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    median = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", done.stdout, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if rate is None or median is None or non_2xx is not None:
        raise RuntimeError(f"wrk on {url}:\n{done.stdout}")
    return float(rate.group(1)), float(median.group(1)) * _UNITS[median.group(2)]


def last_page_cursor(api: Api, ticket_id: str, token: str) -> str:
    """The cursor of the history's last page of 100."""
    query, cursor = "?limit=100", ""
    while True:
        page = api.ok("GET", f"/tickets/{ticket_id}/history{query}", token)
        if page["pagination"]["next_cursor"] is None:
            return cursor
        cursor = urllib.parse.quote(page["pagination"]["next_cursor"])
        query = f"?limit=100&cursor={cursor}"


def walk(api: Api, ticket_id: str, token: str, limit: int) -> tuple[int, int, float]:
    """(pages, entries, seconds) of reading every page, back to back."""
    pages = entries = 0
    query = f"?limit={limit}"
    started = time.perf_counter()
    while True:
        page = api.ok("GET", f"/tickets/{ticket_id}/history{query}", token)
        pages, entries = pages + 1, entries + len(page["data"])
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            return pages, entries, time.perf_counter() - started
        query = f"?limit={limit}&cursor={urllib.parse.quote(cursor)}"


def run_profile(profile: str, args: argparse.Namespace) -> None:
    secret = new_jwt_secret()
    with open_store(profile, secret) as store, SavServer(store) as server:
        api = Api(server.base)
        tokens = {name: issue_token(store.env, sub, role) for name, (sub, role) in ROLES.items()}
        started = time.perf_counter()
        ticket_id = build_ticket(api, tokens, args.events)
        print(f"\n[{profile}] a ticket of {args.events} events built over HTTP in "
              f"{time.perf_counter() - started:.1f} s")
        base = f"{server.base}/tickets/{ticket_id}"
        last = last_page_cursor(api, ticket_id, tokens["admin"])
        rows = [
            ("history, first page (100), admin", f"{base}/history?limit=100", "admin"),
            ("history, last page (100), admin", f"{base}/history?limit=100&cursor={last}",
             "admin"),
            ("history, first page (100), customer", f"{base}/history?limit=100", "customer"),
            (f"?version={args.events} (fold of every event)", f"{base}?version={args.events}",
             "admin"),
            ("plain GET /tickets/{id} (cached view)", base, "admin"),
        ]
        print(f"{'':44} {'req/s':>9} {'p50 ms':>9}   (wrk, {args.connections} connections, "
              f"{args.duration} s)")
        for label, url, who in rows:
            rate, median = wrk(url, tokens[who], args.duration, args.connections)
            print(f"{label:44} {rate:9.1f} {median:9.2f}")
        for who in ("admin", "customer"):
            pages, entries, seconds = walk(api, ticket_id, tokens[who], 100)
            print(f"walk of the whole history, {who}: {pages} pages, {entries} entries in "
                  f"{seconds * 1000:.0f} ms ({entries / seconds:.0f} entries/s)")
        if errors := server.errors():
            print("server errors:", *errors, sep="\n  ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="sqlite,mysql")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    for profile in args.profiles.split(","):
        run_profile(profile, args)


if __name__ == "__main__":
    main()
