"""Run dates: the dates of a backfill, `--from D1 --to D2 --every day|week|month`."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from clvlake.errors import InputError

EVERY = ("day", "week", "month")


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def snapshot_dates(start: date, end: date, every: str) -> list[date]:
    """start, start + 1 step, … up to and including end; months keep start's day (clamped to month ends)."""
    if every not in EVERY:
        raise InputError(f"--every must be one of {', '.join(EVERY)}, got {every!r}")
    if end < start:
        raise InputError(f"--to {end} is before --from {start}")
    dates, i = [], 0
    while True:
        step = (
            _add_months(start, i)
            if every == "month"
            else start + timedelta(days=i * (7 if every == "week" else 1))
        )
        if step > end:
            return dates
        dates.append(step)
        i += 1


def backfill_dates(start: date, end: date | None, every: str) -> list[date]:
    """The dates of `--from start --to end --every …`; `--to` is required with `--from`."""
    if end is None:
        raise InputError("--from needs --to (the last date of the backfill)")
    return snapshot_dates(start, end, every)
