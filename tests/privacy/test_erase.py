"""Two-phase erasure with the default 168-hour retention, after ingest (+ features) of every source.

`clv erase` deletes the subject from every current table at once; old versions still hold it until the retention
has passed; then `clv erase --complete` (or the daily pipeline) vacuums, after which no version, Parquet file,
deletion vector or log entry holds it. A re-delivered landing file does not bring it back.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlparse

import pytest
from pyspark.sql import functions as F

from clvlake.catalog import TABLES
from clvlake.cli import main
from clvlake.config import load_config
from clvlake.features import run as features
from clvlake.ingest import run as ingest
from clvlake.ingest.pseudonymise import customer_key
from clvlake.lake import Lake
from clvlake.privacy.erase import erasable_tables, erase
from tests.support.clock import age_lake
from tests.support.config import write_config
from tests.support.landing import ERASED_ID, FILES, FOLDER, mapping_file, write_landing

AS_OF = date(2025, 1, 1)
PII = (b"cy@example.com", b"Cy Dee")
RETENTION_PASSED = 9 * 24  # hours: the erasure happened nine days ago, beyond the default 168-hour retention
ID_TOKEN = re.compile(rf"(^|[^A-Za-z0-9_-]){re.escape(ERASED_ID)}($|[^A-Za-z0-9_-])")


def holds_subject(row: dict, key: str) -> bool:
    """Whether a row (as a dict) is the subject's: its key, or its clear id in any field."""
    text = json.dumps(row, default=str)
    return key in text or bool(ID_TOKEN.search(text))


def rows(df) -> set[str]:
    """Every row as a JSON string (tiny test tables)."""
    return {json.dumps(r.asDict(recursive=True), default=str, sort_keys=True) for r in df.collect()}


def subject_rows(rows_: set[str], key: str) -> set[str]:
    return {r for r in rows_ if holds_subject(json.loads(r), key)}


@pytest.fixture(scope="module")
def lake_setup(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("erase")
    conf = write_config(
        root, ingest={"max_quarantine_rate": 0.9, "transaction_sources": [mapping_file(root)]}
    )
    cfg = load_config(conf)
    assert cfg.privacy.vacuum_retention_hours == 168  # the default, not lowered for the test
    write_landing(Path(cfg.lake.landing))
    ingest.run(spark, cfg, AS_OF)
    features.run(spark, cfg, AS_OF)
    key = spark.range(1).select(customer_key(F.lit(ERASED_ID), cfg.privacy.salt)).first()[0]
    return conf, cfg, Lake(spark, cfg.lake.root), key


def landing_files(cfg) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(Path(cfg.lake.landing).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def erased(spark, lake_setup):
    """Phase 1, nine days ago: the tables' rows before and after, and their last version before the erasure."""
    conf, cfg, lake, key = lake_setup
    before = {t: rows(lake.read(t)) for t in TABLES if lake.exists(t)}
    versions = {t: lake.version(t) for t in before}
    erased_at = datetime.now(timezone.utc) - timedelta(hours=RETENTION_PASSED)
    landing_before = landing_files(cfg)
    result = erase(spark, cfg, [ERASED_ID], erased_at)
    after = {t: rows(lake.read(t)) for t in before}
    return before, after, versions, result, landing_before, landing_files(cfg)


def line_customer_id(path: Path, line: bytes, header: bytes) -> str | None:
    """The customer id of a landed line, parsed independently of clvlake (None when it has none)."""
    text = line.decode("utf-8", errors="surrogateescape")
    if path.suffix == ".jsonl":
        try:
            return json.loads(text).get("customer_id")
        except json.JSONDecodeError:
            return None
    if path.suffix == ".txt":  # the POS files: whitespace-separated, the customer first
        return text.split()[0] if text.split() else None
    fields = next(csv.reader([text]))
    position = next(csv.reader([header.decode()])).index("customer_id")
    return fields[position] if position < len(fields) else None


def clv_output(*args: str) -> str:
    """stdout of a successful `clv` command."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args)) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def purged(spark, lake_setup, erased):
    """Phase 2: before it, old versions still hold the subject; the retention passes; `clv erase --complete`."""
    conf, cfg, lake, key = lake_setup
    before, _, versions, *_ = erased
    old = spark.read.format("delta").option("versionAsOf", versions["orders"]).load(lake.path("orders"))
    held_before_purge = len(subject_rows(rows(old), key))
    status_before = clv_output("erase", "--conf", str(conf), "--status")
    age_lake(spark, cfg.lake.root, RETENTION_PASSED)
    clv_output("erase", "--conf", str(conf), "--complete")
    return held_before_purge, status_before, clv_output("erase", "--conf", str(conf), "--status")


def test_the_subject_was_everywhere_before(lake_setup, erased):
    key = lake_setup[3]
    before = erased[0]
    for table in ("orders_raw", "customers_raw", "transactions_raw", "orders", "customers", "quarantine"):
        assert subject_rows(before[table], key), table
    assert len(subject_rows(before["customer_features"], key)) == 1
    assert len(subject_rows(before["customer_identity"], key)) == 1


def test_phase_one_removes_exactly_the_subjects_rows_from_every_current_table(lake_setup, erased):
    key = lake_setup[3]
    before, after, _, result, *_ = erased
    # the audit gains a row; ingested_files the new sizes of the rewritten landing files (tested below)
    for table in before.keys() - {"erasure_audit", "ingested_files"}:
        assert after[table] == before[table] - subject_rows(before[table], key), table
    assert result["rows_removed"]["orders"] == len(subject_rows(before["orders"], key))


def test_old_versions_hold_the_subject_until_the_purge_and_status_shows_it_due(erased, purged):
    held_before_purge, status_before, _ = purged
    result = erased[3]
    assert held_before_purge > 0  # the deletion alone does not make older versions forget
    [line] = status_before.strip().splitlines()
    due = datetime.fromisoformat(result["purge_due_at"]).strftime("%Y-%m-%d %H:%M UTC")
    assert result["request_id"] in line and "orders" in line and f"purge OVERDUE since {due}" in line


def test_after_the_retention_no_version_or_file_holds_the_subject(spark, lake_setup, erased, purged):
    _, cfg, lake, key = lake_setup
    before, *_ = erased
    for table in (t for t, r in before.items() if subject_rows(r, key)):
        for version in range(lake.version(table) + 1):
            reader = spark.read.format("delta").option("versionAsOf", version)
            try:
                found = subject_rows(rows(reader.load(lake.path(table))), key)
            except Exception as err:  # noqa: BLE001 - a purged version cannot be read at all: that is the point
                assert re.search("(?i)file.?not.?found|does not exist|cannot time travel", str(err)), err
                found = set()
            assert not found, (table, version)
        files = [str(f) for f in Path(lake.path(table)).rglob("*.parquet") if "_delta_log" not in f.parts]
        assert not subject_rows(rows(spark.read.parquet(*files)), key), table


def test_no_file_of_the_lake_holds_the_subjects_key_id_or_pii(lake_setup, purged):
    """Parquet, deletion vectors, every `_delta_log` entry and checksum (whose file statistics hold the first 32
    characters of the smallest and largest key of each file) and checkpoints."""
    _, cfg, _, key = lake_setup
    for path in Path(cfg.lake.root).rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert key[:32].encode() not in content, path
            assert not any(p in content for p in PII), path
            assert f'"{ERASED_ID}"'.encode() not in content, path
            assert f"{ERASED_ID},".encode() not in content, path


def test_audit_records_deletion_and_purge_without_the_id(lake_setup, erased, purged):
    _, _, lake, key = lake_setup
    before, _, _, result, *_ = erased
    audit = {r["action"]: r.asDict() for r in lake.read("erasure_audit").collect()}
    assert set(audit) == {"started", "deleted", "purged"}
    assert ERASED_ID not in str(audit) and key not in str(audit)
    started, deleted, done = audit["started"], audit["deleted"], audit["purged"]
    assert started["request_id"] == deleted["request_id"] == done["request_id"] == result["request_id"]
    # on record before the deletions: every table the run searched, for the purge should the run be killed
    assert set(started["tables_touched"]) == set(before) & set(erasable_tables())
    assert deleted["rows_removed"]["orders"] == len(subject_rows(before["orders"], key))
    assert set(deleted["tables_touched"]) == {t for t, r in before.items() if subject_rows(r, key)}
    assert done["tables_touched"] == sorted(deleted["tables_touched"])
    assert deleted["purge_due_at"] - deleted["erased_at"] >= timedelta(hours=168)
    assert done["purged_at"] >= deleted["purge_due_at"]
    _, _, status_after = purged
    assert status_after.strip() == "no pending erasure purges"


def test_the_landing_files_lose_exactly_the_subjects_lines(erased):
    """Every landing file that held the subject is rewritten without the subject's lines, byte for byte
    otherwise (bad bytes included); every other file is untouched."""
    *_, result, before, after = erased
    assert before.keys() == after.keys()
    rewritten = set()
    for path, content in before.items():
        lines = content.splitlines()
        kept = [line for line in lines if line_customer_id(path, line, lines[0]) != ERASED_ID]
        assert after[path] == b"".join(line + b"\n" for line in kept), path
        if len(kept) < len(lines):
            rewritten.add(path)
    assert rewritten  # the subject is in some file of every source (tests/support/landing.py)
    assert {Path(urlparse(uri).path) for uri in result["landing_files_rewritten"]} == rewritten
    assert not any(f.name.startswith((".", "_")) for f in after)  # no staging file, no checksum left behind


def test_a_redelivered_file_does_not_bring_the_subject_back(spark, lake_setup, erased, purged):
    """The source system delivers its original files again (the subject in them) under new names."""
    conf, cfg, lake, key = lake_setup
    *_, original, _ = erased
    landing = Path(cfg.lake.landing)
    for source in ("orders", "customers", "pos_transactions"):
        folder = landing / FOLDER.get(source, source)
        for name in FILES[source][:2]:
            (folder / f"redelivered_{name}").write_bytes(original[folder / name])
    result = ingest.run(spark, cfg, AS_OF + timedelta(days=1))
    for table in TABLES:
        if lake.exists(table) and table != "erasure_audit":
            assert not subject_rows(rows(lake.read(table)), key), table
    # the rewritten landing files are not read again: only the re-delivered ones are new
    assert {c.source: c.files for c in result["sources"] if c.files} == {
        "orders": 2,
        "customers": 2,
        "pos_transactions": 2,
    }
    quality = lake.read("quality_checks").where(F.col("run_date") == AS_OF + timedelta(days=1))
    suppressed = {r["source"]: r["rows_suppressed"] for r in quality.collect()}
    # the subject's good and bad rows of each re-delivered source (tests/support/landing.py)
    assert suppressed == {"orders": 1, "customers": 2, "pos_transactions": 2}


def test_quarantined_crm_rows_hold_neither_email_nor_name(lake_setup):
    _, _, lake, _ = lake_setup
    crm = {r["raw_record"] for r in lake.read("quarantine").where(F.col("source") == "customers").collect()}
    assert crm and not [r for r in crm if "@" in r or "Bj" in r]
    fields = [json.loads(r) for r in crm if r.startswith("{")]
    unparseable_boolean = next(f for f in fields if f["customer_id"] == "CX01")
    assert unparseable_boolean == {
        "customer_id": "CX01",
        "signup_ts": "2024-02-01T10:00:00Z",
        "acquisition_channel": "organic",
        "country": "DE",
        "email": "***",
        "name": "***",
        "marketing_consent": "maybe",  # what the data engineer needs to see stays
    }
