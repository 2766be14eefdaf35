"""Benchmark aid: the statements and commits one `POST /tickets` costs on MariaDB (issue 21).

A real `sav serve` on a throwaway database; after a few warm-up creates (the customer's
data key exists, pools are open), MariaDB's general log is switched on for `--creates`
sequential creates by one customer, then off again (and the log table emptied). Only the
server's own connections are counted (the sessions on the throwaway database). Prints
statements per create, commits per create, and each distinct statement with its count;
then, log off, the server's CPU time per create over `--cpu-creates` more (a figure that
the load of other work on the machine moves less than a rate does).
Needs the SUPER privilege on a MariaDB nobody else relies on the general log of.

    python scripts/bench/round_trips.py [--creates 20] [--cpu-creates 300] [--show 40]
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections import Counter

from ceilings import RawDb, cpu_seconds
from sav_process import Api, SavServer, issue_token, mysql_params, new_jwt_secret, open_store

BODY = {"subject": "Order not received", "description": "The parcel never arrived.",
        "priority": "normal", "category": "delivery"}
COUNTED = ("Query", "Execute", "Prepare")


def shape(statement: str) -> str:
    """A statement without its values, to group them."""
    statement = re.sub(r"'(?:[^'\\]|\\.)*'", "?", statement)
    statement = re.sub(r"\b\d+(\.\d+)?(e[-+]?\d+)?\b", "?", statement)
    statement = re.sub(r"\(\s*\?(\s*,\s*\?)*\s*\)", "(?)", statement)
    return " ".join(statement.split())[:160]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--cpu-creates", type=int, default=300)
    parser.add_argument("--show", type=int, default=40, help="distinct statements listed")
    opts = parser.parse_args()
    root = RawDb(mysql=mysql_params())
    with open_store("mysql", new_jwt_secret()) as store, SavServer(store) as server:
        database = store.env["DB_DATABASE"]
        token = issue_token(store.env, "trips-customer", "customer")
        api = Api(server.base)
        for _ in range(opts.warmup):
            api.ok("POST", "/tickets", token, BODY)
        time.sleep(1.5)  # let the workers settle (their idle polls are counted too)
        output = root.execute("SELECT @@log_output")[0][0]
        root.execute("SET GLOBAL log_output = 'TABLE'")
        root.execute("SET GLOBAL general_log = 1")
        try:
            started = time.perf_counter()
            for _ in range(opts.creates):
                api.ok("POST", "/tickets", token, BODY)
            elapsed = time.perf_counter() - started
        finally:
            root.execute("SET GLOBAL general_log = 0")
            root.execute(f"SET GLOBAL log_output = '{output}'")
        threads = {row[0] for row in root.execute(
            "SELECT id FROM information_schema.processlist "
            f"WHERE db = '{database}'")}
        threads |= {row[0] for row in root.execute(
            "SELECT thread_id FROM mysql.general_log WHERE command_type = 'Connect' "
            f"AND argument LIKE '%% on {database}%%'")}
        rows = root.execute(
            "SELECT thread_id, command_type, CONVERT(argument USING utf8mb4) "
            "FROM mysql.general_log ORDER BY event_time") if threads else []
        root.execute("TRUNCATE TABLE mysql.general_log")
        assert server.process is not None
        cpu, started = cpu_seconds(server.process.pid), time.perf_counter()
        for _ in range(opts.cpu_creates):
            api.ok("POST", "/tickets", token, BODY)
        wall = (time.perf_counter() - started) / opts.cpu_creates
        cpu = (cpu_seconds(server.process.pid) - cpu) / opts.cpu_creates
    mine = [(kind, str(arg)) for thread, kind, arg in rows
            if thread in threads and kind in COUNTED]
    commits = sum(1 for _, arg in mine if arg.strip().upper() == "COMMIT")
    per = opts.creates
    print(f"{per} creates in {elapsed:.2f} s (general log on), {len(threads)} server "
          f"sessions: {len(mine) / per:.1f} statements and {commits / per:.2f} commits "
          "per create (idle polls of the workers included)")
    print(f"{opts.cpu_creates} creates, log off: server CPU {cpu * 1000:.2f} ms per create, "
          f"{wall * 1000:.2f} ms per request (one at a time), load {os.getloadavg()[0]:.2f}")
    counts = Counter(shape(arg) for _, arg in mine)
    for statement, n in counts.most_common(opts.show):
        print(f"{n / per:6.2f}  {statement}")


if __name__ == "__main__":
    main()
