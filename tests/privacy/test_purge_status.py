"""Pending purges from `erasure_audit` alone: which requests still wait for their VACUUM, when they are due, and the
monitoring check that alerts on an overdue one. A tiny audit table, no other table."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from clvlake import schemas
from clvlake.lake import Lake
from clvlake.privacy.erase import DELETED, PURGED, STARTED, overdue_purge_check, pending_purges, status_line

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
WEEK, DAY = timedelta(hours=168), timedelta(hours=24)


def audit_row(erased_at, tables, request=None, action=None, due=None, purged_at=None, run_date=None):
    return (
        run_date or erased_at.date(),
        erased_at,
        1,
        ["h"],
        tables,
        {t: 1 for t in tables} if action != PURGED else {},
        168.0,
        request,
        action,
        due,
        purged_at,
    )


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    lake = Lake(spark, str(tmp_path_factory.mktemp("purge_status") / "lake"))
    later = T0 + timedelta(days=3)
    rows = [
        audit_row(T0 - timedelta(days=30), ["orders"]),  # written before request ids: due 168 h after it
        audit_row(T0, ["orders", "customers"], "r1", DELETED, T0 + WEEK),
        audit_row(T0, ["orders"], "r1", PURGED, T0 + WEEK, T0 + WEEK, (T0 + WEEK).date()),  # one of two
        audit_row(later, ["sessions", "orders", "customers"], "r2", STARTED, later + WEEK + DAY),
        audit_row(later, ["sessions"], "r2", DELETED, later + WEEK),  # finished: its own tables only
        audit_row(later, ["orders", "refunds"], "r4", STARTED, later + WEEK + DAY),  # killed: every table
        audit_row(later, [], "r3", DELETED, later + WEEK),  # nothing found: nothing to purge
    ]
    lake.append(spark.createDataFrame(rows, schemas.ERASURE_AUDIT), "erasure_audit")
    return lake


def test_pending_purges_are_the_touched_tables_not_yet_purged(lake):
    pending = {p.request_id: (p.tables, p.purge_due_at) for p in pending_purges(lake)}
    legacy = next(r for r in pending if r not in ("r1", "r2", "r4"))
    assert pending == {
        legacy: (["orders"], T0 - timedelta(days=30) + WEEK),
        "r1": (["customers"], T0 + WEEK),
        "r2": (["sessions"], T0 + timedelta(days=3) + WEEK),
        "r4": (["orders", "refunds"], T0 + timedelta(days=3) + WEEK + DAY),
    }


def test_status_line_names_request_tables_and_due_date(lake):
    r2 = next(p for p in pending_purges(lake) if p.request_id == "r2")
    line = status_line(r2, T0)
    assert line.startswith("request r2:") and "(sessions)" in line and "due 2025-03-11 12:00 UTC" in line


def test_monitor_alerts_only_on_purges_overdue_by_more_than_a_day(lake):
    due_r1 = (T0 + WEEK).date()  # 2025-03-08 12:00
    assert overdue_purge_check(lake, date(2025, 2, 1)).value == 0
    assert overdue_purge_check(lake, due_r1 + timedelta(days=1)).value == 1  # only the legacy request
    check = overdue_purge_check(lake, due_r1 + timedelta(days=2))
    assert check.breached and check.value == 2 and "r1" in check.detail
