"""Benchmark: SAV's hot paths (issue 10), each next to its ceiling measured in the same run.

Per profile, a real `sav serve` on a throwaway store, wrk as the HTTP client (pinned to
CPU 0, the server and the raw database loops to CPU 1, unless --no-pin). Figures are
medians over --rounds; a figure and its ceiling alternate within each round, so noise
from other work on the machine hits both. Not a test: it prints figures.

    python scripts/bench/hot_paths.py [--profiles sqlite,mysql] [--duration 10] [--rounds 3]
        [--only get,create1,create32,save,stats,list,replay,messages,workers,idle]
        [--quick] [--no-pin]

The ceilings of issue 21, each measured in the same run: (a) a bare Sanic POST route
committing one row (ceilings.py), (b) the eventsourcing library's own `save()` through
SAV's persistence module and mapper, 1 and 8 threads, and (c) reading every stored event
and decoding it through SAV's mapper (library.py). `idle` counts the queries an idle
`sav serve` sends MariaDB (`Questions`) over 10 s. Each create row also prints (a) and
(b) in sequence (a floor for any event-sourced create over HTTP: their times add up) and
the CPU time per request of each server process (`/proc`), with (b)'s per save: once
the server's core is busy, its CPU per request is what bounds its rate.

Data (seeding.py, in-process; over HTTP if sav's internals moved, slower): the customer
`bench-owner` gets 2,000 tickets with the server up (statistics measured), then up to
20,000 with it down, each with a lifecycle (open, answered, resolved, closed: 4.5 events
on average), and its oldest ticket a thread of 8,000 messages: ~100k events, which the
measured `sav replay` projects (so the bulk is projected once, not twice). Then the
server comes back for the other rows. Everything measured goes through HTTP and the CLI.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from ceilings import RawDb, bare_sanic, bare_sanic_insert, cpu_seconds, pinned
from library import save_rate, scan_rate
from sav_process import (
    Api,
    SavServer,
    Store,
    issue_token,
    mysql_params,
    new_jwt_secret,
    open_store,
    run_replay,
)
from seeding import SeedingUnavailable, seed_messages, seed_tickets
from wrk_client import Wrk, WrkResult

ROWS = ("get", "create1", "create32", "save", "stats", "list", "replay", "messages", "workers",
        "idle")
IDLE_SECONDS = 10.0
CLIENT_CPU, SERVER_CPU = "0", "1"
SEED_CONNECTIONS = 20
READ_CONNECTIONS = 8  # statistics and list: a few dashboards at once
TICKET_BODY = ('{"subject": "Order not received", "description": "The parcel never arrived.",'
               ' "priority": "normal", "category": "delivery"}')
MESSAGE_BODY = '{"content": "Any news about my order? It has been a week now."}'
USERS = {"owner": ("bench-owner", "customer"), "writer": ("bench-writer", "customer"),
         "agent": ("bench-agent", "agent"), "admin": ("bench-admin", "admin")}


@dataclass(frozen=True)
class Sizes:
    small: int = 2_000
    large: int = 20_000
    messages: int = 8_000
    writers: int = 8
    posts: int = 80
    get_tickets: int = 32


QUICK = Sizes(small=200, large=2_000, messages=800)


@dataclass
class Options:
    profiles: list[str]
    rows: set[str]
    duration: float
    rounds: int
    replay_rounds: int
    sizes: Sizes
    pin: bool

    @property
    def ceiling_seconds(self) -> float:
        return max(2.0, self.duration / 2)

    @property
    def server_cpus(self) -> str | None:
        return SERVER_CPU if self.pin else None


@dataclass
class Line:
    figure: str
    value: str
    ceiling: str = "—"
    ratio: str = ""
    notes: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def anomalies(name: str, results: Sequence[WrkResult]) -> list[str]:
    """Non-2xx statuses and socket errors over all rounds of one figure."""
    codes: dict[int, int] = {}
    for result in results:
        for code, n in result.other_codes.items():
            codes[code] = codes.get(code, 0) + n
    sockets = sum(r.socket_errors for r in results)
    total = sum(r.requests for r in results)
    notes = [f"{name}: {n} x HTTP {code} of {total} responses" for code, n in codes.items()]
    if sockets:
        notes.append(f"{name}: {sockets} socket errors/timeouts")
    return notes


class Bench:
    """One profile's store, users and data, and the rows measured on its server."""

    def __init__(self, opts: Options, store: Store, wrk: Wrk, tokens: dict[str, str]) -> None:
        self.opts, self.store, self.wrk, self.tokens = opts, store, wrk, tokens
        self.server: SavServer | None = None
        self.population: list[str] = []  # the owner's tickets, oldest first
        self.pending: list[tuple[str, int]] = []  # (ticket, version) not yet seen projected
        self.notes: list[str] = []
        # (b) by threads, measured once per run: saves/s, ms of CPU per save
        self.saves: dict[int, tuple[float, float]] = {}

    def save_figures(self, threads: int) -> tuple[float, float]:
        """(b): saves/s of the library's own `save()` on `threads` threads, into a scratch
        database beside the store's, and its process's CPU per save (ms)."""
        if threads not in self.saves:
            if self.store.profile == "mysql":
                params = mysql_params()
                name = f"{self.store.env['DB_DATABASE']}_save"
                url = (f"mysql+pymysql://{params['user']}:{params['password']}@"
                       f"{params['host']}:{params['port']}/{name}")
            else:
                url = f"sqlite:///{self.store.root / 'save-ceiling.sqlite3'}"
            try:
                self.saves[threads] = save_rate(self.store.env, url, threads,
                                                self.opts.ceiling_seconds,
                                                self.opts.server_cpus)
            finally:
                if self.store.profile == "mysql":
                    RawDb(mysql=mysql_params()).execute(f"DROP DATABASE IF EXISTS `{name}`")
        return self.saves[threads]

    @contextmanager
    def serving(self) -> Iterator[None]:
        """`sav serve` (pinned), caught up with everything seeded while it was down."""
        with SavServer(self.store, cpus=self.opts.server_cpus) as server:
            self.server = server
            try:
                self.catch_up()
                yield
            finally:
                self.notes += [f"server log: {entry}" for entry in server.errors()]
                self.server = None

    @property
    def api(self) -> Api:
        assert self.server is not None, "needs the server up"
        return Api(self.server.base)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}",
                "Content-Type": "application/json"}

    def url(self, path: str) -> str:
        return self.api.base + path

    def repeat(self, measure: Callable[[], WrkResult]) -> list[WrkResult]:
        return [measure() for _ in range(self.opts.rounds)]

    # -- data ------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Wait until the read model shows what was seeded (when the server is up)."""
        if self.server is None or not self.pending:
            return
        started = time.perf_counter()
        for ticket_id, version in self.pending:
            self.api.wait_for_version(ticket_id, version, self.tokens["admin"])
        self.pending.clear()
        log(f"  read model caught up in {time.perf_counter() - started:.0f}s")

    def grow_population(self, target: int) -> None:
        """Tickets of `bench-owner` up to `target`, with their lifecycles: in-process (server
        up or not), else over HTTP without lifecycles."""
        missing = target - len(self.population)
        if missing <= 0:
            return
        started = time.perf_counter()
        try:
            ids, events, version = seed_tickets(
                self.store.env, missing, len(self.population), USERS["owner"][0],
                USERS["agent"][0], writers=1 if self.store.profile == "sqlite" else 8)
        except SeedingUnavailable as error:
            self.notes.append(f"tickets created over HTTP, no lifecycles: {error}")
            with nullcontext() if self.server else self.serving():
                self.create_over_http(missing)
            return
        self.population += ids
        log(f"  {missing} tickets, {events} events appended in "
            f"{time.perf_counter() - started:.0f}s")
        self.pending.append((ids[-1], version))
        self.catch_up()

    def create_over_http(self, count: int) -> None:
        result = self.wrk.run_count(
            self.url("/tickets"), connections=SEED_CONNECTIONS,
            per_connection=-(-count // SEED_CONNECTIONS), method="POST", body=TICKET_BODY,
            headers=self.headers("owner"))
        self.notes += anomalies(f"seeding {count} tickets", [result])
        self.population = self.api.ticket_ids(self.tokens["owner"])

    def new_ticket(self, who: str) -> str:
        return str(self.api.ok("POST", "/tickets", self.tokens[who],
                               {"subject": "Where is my order?", "description": "bench"})["id"])

    def converse(self, ticket_id: str, count: int) -> None:
        """Give the ticket (of `bench-owner`) `count` more messages."""
        started = time.perf_counter()
        try:
            version = seed_messages(self.store.env, ticket_id, count, USERS["agent"][0],
                                    USERS["owner"][0])
        except SeedingUnavailable as error:
            self.notes.append(f"messages posted over HTTP (slow): {error}")
            with nullcontext() if self.server else self.serving():
                posted = self.wrk.run_count(
                    self.url(f"/tickets/{ticket_id}/messages"), connections=1,
                    per_connection=count, method="POST", body=MESSAGE_BODY,
                    headers=self.headers("owner"))
            version = 1 + posted.ok
        log(f"  {count} messages appended in {time.perf_counter() - started:.0f}s")
        self.pending.append((ticket_id, version))
        self.catch_up()

    # -- rows ------------------------------------------------------------------------

    def statistics_line(self) -> Line:
        total = self.api.ok("GET", "/tickets/statistics", self.tokens["admin"])["total"]
        results = self.repeat(lambda: self.wrk.run(
            self.url("/tickets/statistics"), connections=READ_CONNECTIONS,
            seconds=self.opts.duration, headers=self.headers("admin")))
        return Line(f"statistics (admin) at {total:,} tickets, c={READ_CONNECTIONS}",
                    f"p50 {med([r.p50_ms for r in results]):.1f} ms, "
                    f"p99 {med([r.p99_ms for r in results]):.1f} ms, "
                    f"{med([r.rate for r in results]):.1f} req/s",
                    notes=anomalies("statistics", results))

    def list_line(self) -> Line:
        results = self.repeat(lambda: self.wrk.run(
            self.url("/tickets"), connections=READ_CONNECTIONS, seconds=self.opts.duration,
            headers=self.headers("owner")))
        return Line(f"GET /tickets (first page) as a customer owning {len(self.population):,}"
                    f" tickets, c={READ_CONNECTIONS}",
                    f"{med([r.rate for r in results]):.0f} req/s "
                    f"(p50 {med([r.p50_ms for r in results]):.1f} ms)",
                    notes=anomalies("list", results))

    def get_line(self) -> Line:
        count = self.opts.sizes.get_tickets
        if len(self.population) >= count:
            ids, who = self.population[-count:], "owner"
        else:
            ids, who = [self.new_ticket("writer") for _ in range(count)], "writer"
            for ticket_id in ids:
                for _ in range(2):
                    self.api.ok("POST", f"/tickets/{ticket_id}/messages", self.tokens[who],
                                {"content": "Any news?"})
        figures, ceilings = [], []
        with bare_sanic(self.opts.server_cpus) as bare_url:
            for _ in range(self.opts.rounds):
                figures.append(self.wrk.run(
                    self.url("/"), connections=32, seconds=self.opts.duration,
                    headers=self.headers(who), paths=[f"/tickets/{i}" for i in ids]))
                ceilings.append(self.wrk.run(bare_url, connections=32,
                                             seconds=self.opts.ceiling_seconds))
        figure, ceiling = med([r.rate for r in figures]), med([r.rate for r in ceilings])
        return Line("GET /tickets/{id}, c=32", f"{figure:.0f} req/s "
                    f"(p50 {med([r.p50_ms for r in figures]):.1f} ms)",
                    f"bare Sanic JSON route {ceiling:.0f} req/s", f"{figure / ceiling:.3f}",
                    anomalies("get", figures) + anomalies("bare Sanic", ceilings))

    def create_lines(self, connections: int, threads: int) -> list[Line]:
        """POST /tickets against (a), the bare route committing a row at the same
        concurrency (alternating within each round), and against (b) on `threads`."""
        figures, ceilings, cpus, ceiling_cpus = [], [], [], []
        bare_pids: list[int] = []
        assert self.server is not None and self.server.process is not None
        pid = self.server.process.pid
        with bare_sanic_insert(self.store.raw, self.opts.server_cpus, bare_pids) as bare_url:
            for _ in range(self.opts.rounds):
                figures.append(cpu_measured(pid, cpus, lambda: self.wrk.run(
                    self.url("/tickets"), connections=connections,
                    seconds=self.opts.duration, method="POST", body=TICKET_BODY,
                    headers=self.headers("writer"))))
                ceilings.append(cpu_measured(bare_pids[0], ceiling_cpus, lambda: self.wrk.run(
                    bare_url, connections=connections, seconds=self.opts.ceiling_seconds,
                    method="POST", body=TICKET_BODY,
                    headers={"Content-Type": "application/json"})))
        figure, ceiling = med([r.rate for r in figures]), med([r.rate for r in ceilings])
        cpu, ceiling_cpu = med(cpus), med(ceiling_cpus)

        def latency(results: list[WrkResult]) -> str:
            return (f"p50 {med([r.p50_ms for r in results]):.2f} ms, "
                    f"p99 {med([r.p99_ms for r in results]):.1f} ms")

        save, save_cpu = self.save_figures(threads)
        p99_ratio = med([r.p99_ms for r in figures]) / med([r.p99_ms for r in ceilings])
        return [
            Line(f"POST /tickets, c={connections} vs (a)",
                 f"{figure:.0f} req/s, {latency(figures)}",
                 f"(a) bare Sanic POST + one INSERT+COMMIT {ceiling:.0f} req/s, "
                 f"{latency(ceilings)}",
                 f"{figure / ceiling:.3f} (p99 {p99_ratio:.1f} x)",
                 anomalies(f"create c={connections}", figures)
                 + anomalies(f"bare insert c={connections}", ceilings)),
            Line(f"POST /tickets, c={connections} vs (b) on {threads} thread(s)",
                 f"{figure:.0f} req/s", f"(b) library save() {save:.0f} saves/s",
                 f"{figure / save:.3f}"),
            # A floor for any event-sourced create over HTTP: (a)'s request and row, then
            # the library's save(), one after the other (their times add up).
            Line(f"POST /tickets, c={connections} vs (a) then (b)",
                 f"{figure:.0f} req/s",
                 f"(a) and (b) in sequence {1 / (1 / ceiling + 1 / save):.0f} req/s "
                 f"= {save / (ceiling + save):.3f} x (a)",
                 f"{figure * (1 / ceiling + 1 / save):.3f}"),
            # What bounds the rates once the server's one core is busy: its CPU per request.
            Line(f"server CPU per request, c={connections}",
                 f"POST /tickets {cpu:.2f} ms",
                 f"(a) {ceiling_cpu:.3f} ms; (b) save() alone {save_cpu:.3f} ms "
                 f"(its whole process, {threads} thread(s))",
                 f"{ceiling_cpu / cpu:.3f} (a); (a)'s HTTP and row + (b): "
                 f"{ceiling_cpu / (ceiling_cpu + save_cpu):.3f}"),
        ]

    def save_line(self) -> Line:
        one, eight = self.save_figures(1)[0], self.save_figures(8)[0]
        return Line("(b) library save(): 8 threads vs 1 thread", f"{eight:.0f} vs {one:.0f} "
                    "saves/s", "—", f"{eight / one:.2f} x")

    def idle_line(self) -> Line:
        """Queries an idle `sav serve` sends: MariaDB's general log for 10 s, only the
        connections to this store's database (the server is shared)."""
        if self.store.profile != "mysql":
            return Line("queries/s of an idle `sav serve`", "n/a on SQLite (no server log)")
        raw = RawDb(mysql=mysql_params())
        database = self.store.env["DB_DATABASE"]
        time.sleep(2.0)  # after start-up and the last request
        counts = count_queries(raw, database, IDLE_SECONDS)
        total = sum(counts.values())
        top = ", ".join(f"{n} x {kind}" for kind, n in counts.most_common(6))
        return Line(f"queries/s of an idle `sav serve` ({IDLE_SECONDS:g} s, general log)",
                    f"{total / IDLE_SECONDS:.1f}", notes=[f"idle queries: {top or 'none'}"])
    def messages_line(self, busy: str) -> Line:
        sizes = self.opts.sizes
        per_writer = sizes.posts // sizes.writers

        def post(ticket_id: str) -> WrkResult:
            return self.wrk.run_count(
                self.url(f"/tickets/{ticket_id}/messages"), connections=sizes.writers,
                per_connection=per_writer, method="POST", body=MESSAGE_BODY,
                headers=self.headers("owner"))

        figures, ceilings = [], []
        for _ in range(self.opts.rounds):
            figures.append(post(busy))
            ceilings.append(post(self.new_ticket("owner")))

        def summary(results: list[WrkResult]) -> str:
            errors = sum(r.server_errors for r in results)
            return (f"{med([r.rate for r in results]):.1f} posts/s, median "
                    f"{med([r.p50_ms for r in results]):.0f} ms, 5xx: {errors}/"
                    f"{sum(r.requests for r in results)}")

        return Line(f"POST /tickets/{{id}}/messages on a ticket with {sizes.messages:,} "
                    f"messages, {sizes.writers} writers x {per_writer} posts",
                    summary(figures), f"fresh ticket: {summary(ceilings)}",
                    f"{med([r.rate for r in figures]) / med([r.rate for r in ceilings]):.3f}",
                    anomalies("busy ticket", figures) + anomalies("fresh ticket", ceilings))


LOG_LINE = re.compile(r"^(?:\d{6}\s+[\d:]+|\S+Z)?\s+(\d+)\s+(\w[\w ]*?)\t(.*)$")


def count_queries(raw: RawDb, database: str, seconds: float) -> Counter[str]:
    """What the connections to `database` sent MariaDB over `seconds` (its general log,
    switched on meanwhile), by command and first words."""
    path, datadir = raw.execute("SELECT @@general_log_file, @@datadir")[0]
    path = os.path.join(datadir, path)
    ours = {int(row[0]) for row in raw.execute(
        f"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{database}'")}
    offset = os.path.getsize(path) if os.path.exists(path) else 0
    raw.execute("SET GLOBAL general_log = 1")
    try:
        time.sleep(seconds)
    finally:
        raw.execute("SET GLOBAL general_log = 0")
    counts: Counter[str] = Counter()
    with open(path, errors="replace") as log_file:
        log_file.seek(offset)
        for line in log_file:
            match = LOG_LINE.match(line)
            if match is None:
                continue
            thread, command, argument = int(match[1]), match[2].strip(), match[3]
            if command == "Connect" and f" on {database}" in argument:
                ours.add(thread)
            if thread in ours and command != "Connect":
                words = " ".join(argument.split()[:3]) if command == "Query" else ""
                counts[f"{command} {words}".strip()] += 1
    return counts


def cpu_measured(pid: int, per_request: list[float],
                 run: Callable[[], WrkResult]) -> WrkResult:
    """`run()`, appending the CPU time process `pid` spent per request meanwhile (ms)."""
    before = cpu_seconds(pid)
    result = run()
    per_request.append(1000 * (cpu_seconds(pid) - before) / max(1, result.requests))
    return result


def replay_line(opts: Options, store: Store) -> Line:
    """`sav replay` of the whole store, the server stopped, against (c): the same events
    read and decoded by SAV's mapper, nothing else."""
    events = store.raw.count("stored_events")
    walls, startups, ceilings, fetches = [], [], [], []
    for _ in range(opts.replay_rounds):
        wall, startup = run_replay(store, opts.server_cpus)
        walls.append(wall)
        startups.append(startup)
        ceilings.append(scan_rate(store.env, opts.server_cpus)[1])
        with pinned(opts.server_cpus):
            fetches.append(store.raw.fetch_rate("stored_events")[1])
    wall, startup, ceiling = med(walls), med(startups), med(ceilings)
    rate = events / (wall - startup)
    return Line(f"`sav replay` of {events:,} events vs (c)",
                f"{rate:.0f} events/s ({wall - startup:.1f} s, plus {startup:.1f} s start-up)",
                f"(c) scan + mapper decode {ceiling:.0f} events/s",
                f"{rate / ceiling:.3f}",
                [f"raw SELECT + fetch of stored_events: {med(fetches):.0f} rows/s"])


def workers_line(opts: Options, profile: str, wrk: Wrk, secret: str,
                 tokens: dict[str, str]) -> Line:
    """Creates at c=32 on `--workers 2` and `--workers 1`, each on its own fresh store,
    both up at once and measured in turn; neither server is pinned."""
    headers = {"Authorization": f"Bearer {tokens['writer']}", "Content-Type": "application/json"}
    results: dict[int, list[WrkResult]] = {1: [], 2: []}
    with (open_store(profile, secret) as store1, open_store(profile, secret) as store2,
          SavServer(store1, workers=1) as one, SavServer(store2, workers=2) as two):
        for _ in range(opts.rounds):
            for workers, server in ((1, one), (2, two)):
                results[workers].append(wrk.run(
                    f"{server.base}/tickets", connections=32, seconds=opts.duration,
                    method="POST", body=TICKET_BODY, headers=headers))
        log_notes = [f"--workers {w} server log: {entry}"
                     for w, server in ((1, one), (2, two)) for entry in server.errors()]
    rate = {w: med([r.rate for r in rs]) for w, rs in results.items()}
    return Line("`sav serve --workers 2` vs `--workers 1`, POST /tickets c=32",
                f"{rate[2]:.0f} vs {rate[1]:.0f} req/s", "—", f"{rate[2] / rate[1]:.2f}",
                anomalies("workers 1", results[1]) + anomalies("workers 2", results[2])
                + log_notes)


def bench_profile(opts: Options, profile: str, wrk: Wrk) -> list[Line]:
    """Stats at the small size with the server up; the bulk seeded with it down, then
    projected by the measured `sav replay` (not twice); then every other row."""
    secret = new_jwt_secret()
    rows: dict[str, list[Line]] = {row: [] for row in ROWS}
    wants = opts.rows.__contains__
    populated = wants("stats") or wants("list") or wants("replay")
    with open_store(profile, secret) as store:
        with ThreadPoolExecutor(len(USERS)) as pool:  # one CLI start-up each: overlap them
            tokens = dict(zip(USERS, pool.map(lambda user: issue_token(store.env, *user),
                                              USERS.values()), strict=True))
        bench = Bench(opts, store, wrk, tokens)
        busy = ""
        if populated or wants("messages"):
            with bench.serving():
                if populated:
                    log(f"[{profile}] seeding {opts.sizes.small:,} tickets")
                    bench.grow_population(opts.sizes.small)
                if wants("stats"):
                    rows["stats"].append(bench.statistics_line())
                if wants("messages"):  # the oldest ticket (unanswered) gets the long thread
                    busy = bench.population[0] if populated else bench.new_ticket("owner")
            if populated:
                log(f"[{profile}] seeding up to {opts.sizes.large:,} tickets, server stopped")
                bench.grow_population(opts.sizes.large)
            if busy:
                bench.converse(busy, opts.sizes.messages)
        if wants("replay"):
            log(f"[{profile}] replay")
            rows["replay"].append(replay_line(opts, store))
            bench.pending.clear()  # the replay projected everything
        with bench.serving():
            if populated and wants("stats"):
                rows["stats"].append(bench.statistics_line())
            if wants("list"):
                rows["list"].append(bench.list_line())
            for row, measure in (("idle", lambda: [bench.idle_line()]),
                                 ("get", lambda: [bench.get_line()]),
                                 ("create1", lambda: bench.create_lines(1, 1)),
                                 ("create32", lambda: bench.create_lines(32, 8)),
                                 ("save", lambda: [bench.save_line()]),
                                 ("messages", lambda: [bench.messages_line(busy)])):
                if wants(row):
                    log(f"[{profile}] {row}")
                    rows[row] += measure()
    if wants("workers"):
        log(f"[{profile}] workers")
        rows["workers"].append(workers_line(opts, profile, wrk, secret, tokens))
    lines = [line for row in ROWS for line in rows[row]]  # in the issue's order
    if lines:
        lines[-1].notes += bench.notes
    return lines


def print_table(profile: str, lines: list[Line]) -> None:
    print(f"\n### {profile}\n")
    print("| figure | value | ceiling, same run | ratio |")
    print("|---|---|---|---|")
    for line in lines:
        print(f"| {line.figure} | {line.value} | {line.ceiling} | {line.ratio} |")
    notes = list(dict.fromkeys(note for line in lines for note in line.notes))
    if notes:
        print("\nNotes:")
        for note in notes:
            print(f"- {note}")
    sys.stdout.flush()


def describe_run(opts: Options) -> None:
    import sav

    source = os.path.dirname(os.path.dirname(os.path.abspath(sav.__file__)))
    rev = subprocess.run(["git", "-C", source, "describe", "--always", "--dirty"],
                         capture_output=True, text=True, check=False).stdout.strip()
    print(f"# hot paths, {time.strftime('%Y-%m-%d %H:%M')}: sav from {source} ({rev or '?'}), "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, duration {opts.duration:g}s, "
          f"rounds {opts.rounds} (medians), replay rounds {opts.replay_rounds}, "
          f"sizes {opts.sizes}, " + ("wrk on CPU 0, server and raw loops on CPU 1"
                                      if opts.pin else "not pinned"))


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", default="sqlite,mysql")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, help="rounds per figure, medians (default 3)")
    parser.add_argument("--replay-rounds", type=int, default=1,
                        help="`sav replay` runs (default 1: ~30 s each at 100k events)")
    parser.add_argument("--only", default=",".join(ROWS), help=f"rows: {','.join(ROWS)}")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (200/2,000 tickets, 800 messages), 3 s, 1 round")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin wrk and the server to separate CPUs")
    args = parser.parse_args(argv)
    rows = {row.strip() for row in args.only.split(",") if row.strip()}
    if unknown := rows - set(ROWS):
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    if unknown := set(profiles) - {"sqlite", "mysql"}:
        parser.error(f"unknown profiles: {', '.join(sorted(unknown))}")
    pin = args.pin and (os.cpu_count() or 1) >= 2
    return Options(profiles, rows,
                   duration=args.duration or (3.0 if args.quick else 10.0),
                   rounds=args.rounds or (1 if args.quick else 3),
                   replay_rounds=args.replay_rounds, sizes=QUICK if args.quick else Sizes(),
                   pin=pin)


def main() -> None:
    opts = parse_options()
    wrk = Wrk(CLIENT_CPU if opts.pin else None)
    describe_run(opts)
    started = time.perf_counter()
    for profile in opts.profiles:
        profile_started = time.perf_counter()
        lines = bench_profile(opts, profile, wrk)
        print_table(f"{profile} ({time.perf_counter() - profile_started:.0f}s, "
                    f"load {os.getloadavg()[0]:.2f})", lines)
    print(f"\n(finished in {time.perf_counter() - started:.0f}s, "
          f"load {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
