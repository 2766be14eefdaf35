"""Median first-response time by ISO week and priority, from an export of the event feed.

A notebook-style script (cells marked `# %%` open as notebook cells in VS Code, PyCharm
or Jupytext): standard library only; if pandas is installed, the last cell also shows
the same figures as a pivot table.

    sav events export > events.jsonl
    python scripts/analytics/first_response.py events.jsonl
    curl -s -H "Authorization: Bearer $TOKEN" localhost:8007/events/export \
        | python scripts/analytics/first_response.py -

Definitions, as the service's own statistics use them: a ticket's first response is
its first public message written by staff (an agent or an admin; internal notes do not
count); the time is measured from the ticket's creation. Tickets are grouped by the ISO
week they were created in and by the priority they had when first answered (or have
now, if unanswered). Deleted tickets are left out.
"""

# %% Imports and input
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

STAFF_ROLES = {"agent", "admin"}
PRIORITIES = ["urgent", "high", "normal", "low"]


def read_entries(source: TextIO) -> Iterator[dict[str, Any]]:
    """Feed entries `{"position", "message_id", "event", "timestamp", "data"}`, one per
    line of a JSON-lines export (blank lines skipped)."""
    for line in source:
        if line.strip():
            yield json.loads(line)


def moment(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


# %% One row per ticket, folded from its events in position order
@dataclass
class TicketRow:
    created_at: datetime
    priority: str
    first_response_at: datetime | None = None
    deleted: bool = False

    @property
    def week(self) -> str:
        year, week, _ = self.created_at.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def response_seconds(self) -> float | None:
        if self.first_response_at is None:
            return None
        return (self.first_response_at - self.created_at).total_seconds()


def fold(entries: Iterable[dict[str, Any]]) -> dict[str, TicketRow]:
    tickets: dict[str, TicketRow] = {}
    for entry in entries:
        data, kind = entry["data"], entry["event"]
        if kind == "ticket.created":
            tickets[data["ticket_id"]] = TicketRow(moment(entry["timestamp"]), data["priority"])
            continue
        ticket = tickets.get(data.get("ticket_id", ""))
        if ticket is None:  # an export that starts after the ticket's creation
            continue
        if kind == "ticket.updated" and "priority" in (data.get("changes") or {}):
            if ticket.first_response_at is None:
                ticket.priority = data["changes"]["priority"]
        elif kind == "ticket.message.new":
            public_staff = data["author_role"] in STAFF_ROLES and not data["is_internal"]
            if public_staff and ticket.first_response_at is None:
                ticket.first_response_at = moment(entry["timestamp"])
        elif kind == "ticket.deleted":
            ticket.deleted = True
    return tickets


# %% Median first response per (week, priority)
@dataclass
class Cell:
    week: str
    priority: str
    tickets: int
    answered: int
    median_seconds: float | None


def summarize(tickets: dict[str, TicketRow]) -> list[Cell]:
    groups: dict[tuple[str, str], list[TicketRow]] = defaultdict(list)
    for ticket in tickets.values():
        if not ticket.deleted:
            groups[(ticket.week, ticket.priority)].append(ticket)
    rank = {name: i for i, name in enumerate(PRIORITIES)}
    cells = []
    for (week, priority), rows in sorted(groups.items(),
                                         key=lambda item: (item[0][0],
                                                           rank.get(item[0][1], 99))):
        waits = [s for s in (row.response_seconds for row in rows) if s is not None]
        cells.append(Cell(week, priority, len(rows), len(waits),
                          statistics.median(waits) if waits else None))
    return cells


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}" if minutes >= 60 else f"{minutes} min"


# %% The table
def table(cells: list[Cell]) -> str:
    header = ("week", "priority", "tickets", "answered", "median first response")
    rows = [(c.week, c.priority, str(c.tickets), str(c.answered), duration(c.median_seconds))
            for c in cells]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {2, 3, 4}

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(v.rjust(w) if i in right else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths, strict=True)))

    return "\n".join([line(header), line(tuple("-" * w for w in widths)),
                      *(line(row) for row in rows)])


# %% With pandas, if installed: the same medians as a week x priority pivot (hours)
def pandas_pivot(cells: list[Cell]) -> str | None:
    try:
        import pandas as pd
    except ImportError:
        return None
    frame = pd.DataFrame([c.__dict__ for c in cells])
    frame["median_hours"] = frame["median_seconds"] / 3600
    pivot = frame.pivot(index="week", columns="priority", values="median_hours")
    columns = [p for p in PRIORITIES if p in pivot.columns]
    return str(pivot[columns].round(2))


# %% Run
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", nargs="?", default="-",
                        help="a JSON-lines export of the event feed (default: stdin)")
    args = parser.parse_args(argv)
    if args.export == "-":
        cells = summarize(fold(read_entries(sys.stdin)))
    else:
        with open(args.export, encoding="utf-8") as source:
            cells = summarize(fold(read_entries(source)))
    print(table(cells))
    pivot = pandas_pivot(cells)
    if pivot is not None:
        print("\nmedian first response, hours (pandas):")
        print(pivot)


if __name__ == "__main__":
    main()
