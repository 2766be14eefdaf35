"""The business-hours arithmetic (`sav.sla.calendar`): pure functions, checked on
hand-computed cases (holidays, a time-zone offset, "24:00", DST days) and against each
other (adding what `elapsed` measured lands on the same instant)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from sav.sla import calendar as cal

WEEKDAYS = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def paris(**extra: object) -> cal.Calendar:
    return cal.parse({"timezone": "Europe/Paris", "hours": WEEKDAYS, **extra})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_without_a_calendar_every_second_counts() -> None:
    start = utc(2026, 12, 24, 17, 0)
    assert cal.add(None, start, 3600) == utc(2026, 12, 24, 18, 0)
    assert cal.elapsed(None, start, utc(2026, 12, 24, 18, 30)) == 5400


def test_the_default_calendar_is_all_day_every_day_in_utc() -> None:
    assert cal.parse({}) == cal.DEFAULT
    start = utc(2026, 12, 24, 23, 30)
    assert cal.add(cal.DEFAULT, start, 7200) == utc(2026, 12, 25, 1, 30)


def test_hours_count_in_the_calendars_time_zone() -> None:
    """Paris is UTC+1 in winter: 09:00-18:00 local is 08:00-17:00 UTC."""
    monday_before_opening = utc(2026, 12, 7, 6, 0)
    assert cal.add(paris(), monday_before_opening, 3600) == utc(2026, 12, 7, 9, 0)
    late_monday = utc(2026, 12, 7, 16, 30)  # 17:30 in Paris: half an hour left today
    assert cal.add(paris(), late_monday, 3600) == utc(2026, 12, 8, 8, 30)


def test_weekends_and_holidays_are_skipped() -> None:
    thursday_afternoon = utc(2026, 12, 24, 16, 0)  # Thursday 17:00 in Paris
    calendar = paris(holidays=["2026-12-25"])
    # One hour left on Thursday; Friday 25th is a holiday; the weekend is closed.
    assert cal.add(calendar, thursday_afternoon, 2 * 3600) == utc(2026, 12, 28, 9, 0)
    assert cal.elapsed(calendar, thursday_afternoon, utc(2026, 12, 28, 9, 0)) == 2 * 3600
    assert cal.add(paris(), thursday_afternoon, 2 * 3600) == utc(2026, 12, 25, 9, 0)


def test_24_00_ends_the_day_and_intervals_continue_across_midnight() -> None:
    calendar = cal.parse({"timezone": "UTC", "hours": {
        "mon": [["22:00", "24:00"]], "tue": [["00:00", "02:00"]]}})
    start = utc(2026, 12, 7, 23, 0)
    assert cal.add(calendar, start, 2 * 3600) == utc(2026, 12, 8, 1, 0)
    assert cal.elapsed(calendar, utc(2026, 12, 7, 0, 0), utc(2026, 12, 9, 0, 0)) == 4 * 3600


def test_a_dst_change_day_is_measured_in_real_time() -> None:
    """On 2026-03-29 Paris skips 02:00-03:00: an all-day Sunday is 23 hours long, and
    09:00-18:00 is still nine."""
    all_day = cal.parse({"timezone": "Europe/Paris", "hours": {"sun": [["00:00", "24:00"]]}})
    saturday_night = utc(2026, 3, 28, 12, 0)
    assert cal.elapsed(all_day, saturday_night, utc(2026, 4, 1)) == 23 * 3600
    office = cal.parse({"timezone": "Europe/Paris", "hours": {"sun": [["09:00", "18:00"]]}})
    assert cal.elapsed(office, saturday_night, utc(2026, 4, 1)) == 9 * 3600
    assert cal.add(office, saturday_night, 3600) == utc(2026, 3, 29, 8, 0)  # UTC+2 now


@pytest.mark.parametrize("body", [
    {"timezone": "Mars/Olympus_Mons"}, {"timezone": "../../etc/passwd"}, {"timezone": ""},
    {"timezone": 3}, {"hours": {"monday": []}}, {"hours": {"mon": [["18:00", "09:00"]]}},
    {"hours": {"mon": [["09:00", "25:00"]]}}, {"hours": {"mon": [["24:00", "24:00"]]}},
    {"hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}},
    {"hours": {"mon": ["09:00"]}}, {"holidays": ["25/12/2026"]}, {"holidays": "2026-12-25"},
])
def test_invalid_calendars_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(cal.CalendarError):
        cal.parse(body)


def test_a_calendar_without_open_hours_never_reaches_a_target() -> None:
    closed = cal.parse({"hours": {}})
    with pytest.raises(cal.CalendarError):
        cal.add(closed, utc(2026, 12, 7), 60)
    assert cal.elapsed(closed, utc(2026, 12, 7), utc(2026, 12, 9)) == 0


def test_add_and_elapsed_agree() -> None:
    rng = random.Random(23)
    calendar = paris(holidays=["2026-12-25", "2027-01-01", "2026-03-30"])
    for _ in range(300):
        start = utc(2026, 1, 1) + timedelta(minutes=rng.randrange(0, 400 * 24 * 60))
        seconds = rng.randrange(1, 80 * 3600)
        due = cal.add(calendar, start, seconds)
        assert cal.elapsed(calendar, start, due) == seconds
        local = due.astimezone(calendar.zone)
        assert local.weekday() < 5 and local.date() not in calendar.holidays
        assert "09:00" <= local.strftime("%H:%M") <= "18:00"


def test_as_json_round_trips() -> None:
    calendar = paris(holidays=["2026-12-25"])
    assert cal.parse(calendar.as_json()) == calendar
