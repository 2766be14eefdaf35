"""Business-hours arithmetic: pure functions over a calendar, no I/O, no clock.

A calendar is a time zone, opening intervals per weekday (local wall-clock times,
"24:00" allowed as an end) and holidays (local dates, closed all day). Durations are
real elapsed seconds inside the open intervals: an interval is turned into two UTC
instants through `zoneinfo`, so a 09:00-18:00 day is nine hours on a DST change day too,
and a 00:00-24:00 day is 23 or 25 hours then. A wall-clock time that does not exist
(skipped by a DST change) is read with `fold=0`, as zoneinfo does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAY = (("00:00", "24:00"),)
# A target of at most a year in business hours of one hour a week still ends: the walk
# over days stops after this many days (a calendar without any open hour never ends).
MAX_DAYS = 60 * 366
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class CalendarError(ValueError):
    """The calendar's JSON is not valid (an unknown zone, a bad interval): a 422."""


@dataclass(frozen=True, slots=True)
class Calendar:
    timezone: str
    hours: dict[str, tuple[tuple[str, str], ...]]
    holidays: frozenset[date]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def as_json(self) -> dict[str, Any]:
        return {"timezone": self.timezone,
                "hours": {day: [list(i) for i in self.hours.get(day, ())] for day in DAYS},
                "holidays": sorted(d.isoformat() for d in self.holidays)}


DEFAULT = Calendar("UTC", dict.fromkeys(DAYS, ALL_DAY), frozenset())


def _minutes(value: str) -> int:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise CalendarError(f"{value!r} is not a time HH:MM (00:00 to 24:00)")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def parse(body: dict[str, Any]) -> Calendar:
    """A calendar from its JSON; days left out of `hours` are closed, a body without
    `hours` is open all day every day."""
    name = body.get("timezone", "UTC")
    if not isinstance(name, str) or not name or len(name) > 64:
        raise CalendarError("timezone must be an IANA time zone name")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CalendarError(f"unknown time zone {name!r}") from None
    raw_hours = body.get("hours")
    if raw_hours is None:
        raw_hours = {day: [list(i) for i in ALL_DAY] for day in DAYS}
    if not isinstance(raw_hours, dict) or set(raw_hours) - set(DAYS):
        raise CalendarError(f"hours must be an object keyed by {', '.join(DAYS)}")
    hours: dict[str, tuple[tuple[str, str], ...]] = {}
    for day in DAYS:
        intervals = raw_hours.get(day) or []
        if not isinstance(intervals, list) or len(intervals) > 24:
            raise CalendarError(f"hours.{day} must be a list of [start, end] pairs")
        spans = []
        for interval in intervals:
            if not isinstance(interval, list | tuple) or len(interval) != 2:
                raise CalendarError(f"hours.{day} must be a list of [start, end] pairs")
            start, end = _minutes(interval[0]), _minutes(interval[1])
            if start >= end or interval[0] == "24:00":
                raise CalendarError(f"hours.{day}: {interval[0]} is not before {interval[1]}")
            spans.append((start, end, (interval[0], interval[1])))
        spans.sort()
        if any(a[1] > b[0] for a, b in pairwise(spans)):
            raise CalendarError(f"hours.{day}: intervals overlap")
        hours[day] = tuple(span[2] for span in spans)
    raw_holidays = body.get("holidays") or []
    if not isinstance(raw_holidays, list) or len(raw_holidays) > 5000:
        raise CalendarError("holidays must be a list of dates YYYY-MM-DD")
    try:
        holidays = frozenset(date.fromisoformat(day) for day in raw_holidays)
    except (TypeError, ValueError):
        raise CalendarError("holidays must be a list of dates YYYY-MM-DD") from None
    return Calendar(name, hours, holidays)


def _local(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    if hhmm == "24:00":
        return datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    hours, minutes = hhmm.split(":")
    return datetime.combine(day, time(int(hours), int(minutes)), zone).astimezone(UTC)


def _open_spans(calendar: Calendar, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The open intervals (UTC) that end after `since`, in order, from its local day."""
    zone = calendar.zone
    day = since.astimezone(zone).date() - timedelta(days=1)  # an interval may end past midnight
    for _ in range(MAX_DAYS):
        if day not in calendar.holidays:
            for start, end in calendar.hours.get(DAYS[day.weekday()], ()):
                opens, closes = _local(day, start, zone), _local(day, end, zone)
                if closes > since:
                    yield max(opens, since), closes
        day += timedelta(days=1)


def add(calendar: Calendar | None, start: datetime, seconds: float) -> datetime:
    """The instant `seconds` of open time after `start` (all time counts without a
    calendar). `start` is an aware datetime; the result is in UTC."""
    start = start.astimezone(UTC)
    if calendar is None:
        return start + timedelta(seconds=seconds)
    left = timedelta(seconds=seconds)
    for opens, closes in _open_spans(calendar, start):
        if closes - opens >= left:
            return opens + left
        left -= closes - opens
    raise CalendarError("the calendar has no open hours within the target")


def elapsed(calendar: Calendar | None, start: datetime, end: datetime) -> float:
    """The seconds of open time between `start` and `end` (0 when end <= start)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return 0.0
    if calendar is None:
        return (end - start).total_seconds()
    total = timedelta(0)
    for opens, closes in _open_spans(calendar, start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total.total_seconds()
