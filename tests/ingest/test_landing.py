"""Reading landing files: a JSON-lines file's first line may start with a byte order mark."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import functions as F

from clvlake.ingest.landing import line_customer_id, read_json_lines
from clvlake.ingest.sources import SOURCES

LINES = [
    '\ufeff{"session_id": "S1", "customer_id": "C1", "session_start": "2024-03-01T09:50:00Z"}',
    '{"session_id": "S2", "customer_id": "C2", "session_start": "2024-03-01T09:55:00Z", "referrer": "x"}',
]


def test_a_byte_order_mark_is_skipped_by_the_reader_and_by_the_erasures_line_parser(spark, tmp_path: Path):
    path = tmp_path / "sessions_2024-03.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    sessions = SOURCES["sessions"]
    rows = read_json_lines(spark, [path.as_uri()], sessions).orderBy("session_id").collect()
    assert [(r["session_id"], r["customer_id"], r["_corrupt_record"]) for r in rows] == [
        ("S1", "C1", None),
        ("S2", "C2", None),
    ]
    assert [r["_unknown_fields"] for r in rows] == [[], ["referrer"]]
    ids = spark.read.text(str(path)).select(line_customer_id(sessions, F.col("value")).alias("id"))
    assert sorted(r["id"] for r in ids.collect()) == ["C1", "C2"]
