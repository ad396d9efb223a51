"""Erasure matches by key, never by text: in a CDNOW-style lake (numeric ids, whitespace lines `customer_id date
quantity amount`), erasing customer "2" removes exactly that customer's rows, although many other lines hold the
token "2" as a quantity or an amount."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from clvlake.catalog import TABLES
from clvlake.config import load_config
from clvlake.ingest import run as ingest
from clvlake.ingest.pseudonymise import customer_key
from clvlake.lake import Lake
from clvlake.privacy.erase import erase
from tests.support.config import write_config

AS_OF = date(1998, 7, 1)
SUBJECT = "2"
MAPPING = {
    "name": "cdnow",
    "folder": "cdnow",
    "glob": "*.txt",
    "separator": "whitespace",
    "header": False,
    "names": ["customer_id", "date", "quantity", "amount"],
    "timestamp_format": "yyyyMMdd",
    "columns": {
        "customer_id": "customer_id",
        "timestamp": "date",
        "amount": "amount",
        "quantity": "quantity",
    },
}
LINES = [
    "    1 19970101 1 11.77",
    "    2 19970112 2 12.00",  # the subject's two purchases
    "    2 19970112 5 77.00",
    "   12 19970102 2 20.76",  # other customers' lines holding the token "2"
    "    3 19970102 2 2.00",
    "    4 19970103 1 40.2",
    "   22 19970110 1 2",
    "    5 19970105 2 two",  # quarantined (amount), token "2"
    "    2 19970105 1 three",  # quarantined, the subject's
]


@pytest.fixture(scope="module")
def erased(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("erase_by_key")
    mapping = root / "cdnow.yml"
    mapping.write_text(yaml.safe_dump(MAPPING))
    cfg = load_config(
        write_config(
            root,
            ingest={
                "max_quarantine_rate": 0.9,
                "transaction_sources": [str(mapping)],
                "business_start": "1996-01-01",
            },
        )
    )
    landing = Path(cfg.lake.landing) / "cdnow"
    landing.mkdir(parents=True)
    (landing / "CDNOW_sample.txt").write_text("\n".join(LINES) + "\n")
    lake = Lake(spark, cfg.lake.root)
    ingest.run(spark, cfg, AS_OF)
    tables = [t for t in TABLES if lake.exists(t)]
    before = {t: lake.read(t).collect() for t in tables}
    result = erase(spark, cfg, [SUBJECT], datetime.now(timezone.utc))
    after = {t: lake.read(t).collect() for t in tables}
    key = spark.range(1).select(customer_key(F.lit(SUBJECT), cfg.privacy.salt)).first()[0]
    return before, after, key, result, (landing / "CDNOW_sample.txt").read_text(), cfg


def first_token(text: str | None) -> str | None:
    return text.split()[0] if text and text.split() else None


def is_subjects(row, key: str) -> bool:
    """The subject's rows, told apart without the lake's own keys of raw rows: by the line's first field."""
    fields = row.asDict()
    if "line" in fields or "raw_record" in fields:
        return first_token(fields.get("line") or fields.get("raw_record")) == SUBJECT
    return fields.get("customer_key") == key or fields.get("customer_id") == SUBJECT


def as_set(rows) -> set[str]:
    return {json.dumps(r.asDict(recursive=True), default=str, sort_keys=True) for r in rows}


def test_exactly_the_subjects_rows_go_and_every_other_row_stays(erased):
    before, after, key, result, *_ = erased
    for table in before.keys() - {"erasure_audit", "ingested_files"}:  # the audit gains a row; see below
        kept = [r for r in before[table] if not is_subjects(r, key)]
        assert as_set(after[table]) == as_set(kept), table
    subject = {t: sum(is_subjects(r, key) for r in rows) for t, rows in before.items()}
    assert subject["transactions_raw"] == 3 and subject["quarantine"] == 1
    assert subject["orders"] == 2 and subject["customer_identity"] == 1
    assert result["rows_removed"]["transactions_raw"] == 3
    assert result["subjects_never_accepted"] == 0


def test_other_customers_lines_hold_the_token_and_stay(erased):
    before, after, key, *_ = erased
    others = [r["line"] for r in before["transactions_raw"] if first_token(r["line"]) != SUBJECT]
    token_holders = [line for line in others if re.search(r"(^|\D)2(\D|$)", line.split(maxsplit=1)[1])]
    assert len(token_holders) >= 4
    assert set(token_holders) <= {r["line"] for r in after["transactions_raw"]}


def test_bronze_and_quarantine_rows_carry_their_subjects_key(erased):
    before, _, key, *_ = erased
    for table in ("transactions_raw", "quarantine"):
        for row in before[table]:
            text = row["line"] if table == "transactions_raw" else row["raw_record"]
            assert (row["customer_key"] == key) == (first_token(text) == SUBJECT), (table, text)


def test_the_landing_file_loses_the_subjects_lines_only_and_is_not_read_again(erased):
    before, after, _, _, landing, _ = erased
    assert landing.splitlines() == [line for line in LINES if first_token(line) != SUBJECT]
    [logged_before], [logged_after] = before["ingested_files"], after["ingested_files"]
    assert logged_after["path"] == logged_before["path"]
    assert logged_after["size"] == len(landing.encode()) < logged_before["size"]  # the new size: not new


def test_an_id_written_otherwise_than_in_the_source_erases_nothing_and_says_so(spark, erased, caplog):
    """CDNOW's customer 12 is "12": "012" is no customer. Nothing is removed (the customer's lines stay), and the
    summary and a warning say that the id matches no accepted row."""
    *_, cfg = erased
    result = erase(spark, cfg, ["012"], datetime.now(timezone.utc))
    assert result["subjects_never_accepted"] == 1
    assert set(result["rows_removed"].values()) == {0}
    assert "1 of the 1 customer ids given are in no accepted row" in caplog.text
    assert "012" not in caplog.text  # the ids given are not logged
    landing = (Path(cfg.lake.landing) / "cdnow" / "CDNOW_sample.txt").read_text()
    assert any(first_token(line) == "12" for line in landing.splitlines())
