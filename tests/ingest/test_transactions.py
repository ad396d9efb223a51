"""Plain transactions files through a mapping (conf/sources/*.yml) into the orders contract."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from clvlake.errors import ConfigError, InputError
from clvlake.ingest import run as ingest
from clvlake.ingest.run import silver_key, silver_rows
from clvlake.ingest.sources import RuleContext
from clvlake.ingest.transactions import load_mapping, read_transactions, transactions_source
from clvlake.ingest.validation import ACCEPTED, checked_rows
from clvlake.lake import Lake
from tests.support.config import REPO, make_config

EXAMPLE = REPO / "conf" / "sources" / "transactions_example.yml"
CTX = RuleContext(date(2025, 1, 1), date(2015, 1, 1), "EUR", "salt", 64)
LINES = [
    "kunde   datum       betrag  stueck",
    "K17     05.03.2024  12.50   2",
    "K18\t06.03.2024\t7.00 1",
    "",
    "K17     06.03.2024  oops    1",
]


def write(tmp_path, lines: list[str], name: str = "pos_2024-03.txt") -> str:
    path = tmp_path / "landing" / "pos" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def mapping_with(tmp_path, **changes) -> str:
    data = {**yaml.safe_load(EXAMPLE.read_text()), **changes}
    path = tmp_path / "mapping.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_whitespace_file_with_its_own_column_names_imports_as_orders(spark, tmp_path):
    mapping = load_mapping(str(EXAMPLE))
    source = transactions_source(mapping)
    raw = read_transactions(spark, mapping, [write(tmp_path, LINES)], "EUR")
    checked = checked_rows(raw, source, CTX, silver_key(source, "salt"))
    rows = {r["customer_id"] + r["order_ts"]: r for r in checked.collect()}
    assert len(rows) == 3  # the header and the blank line are not rows
    first = rows["K172024-03-05T00:00:00Z"]
    assert (first["status"], str(first["t_gross_amount"]), first["t_items"], first["channel"]) == (
        ACCEPTED,
        "12.50",
        2,
        "store",
    )
    assert rows["K182024-03-06T00:00:00Z"]["status"] == ACCEPTED  # tabs separate too
    bad = rows["K172024-03-06T00:00:00Z"]
    assert (bad["rule"], bad["_raw_line"]) == ("unparseable_amount", LINES[-1])
    silver = silver_rows(checked, source, "run").collect()
    assert {r["event_date"] for r in silver} == {date(2024, 3, 5), date(2024, 3, 6)}
    assert all(r["order_id"].startswith("TX") and len(r["customer_key"]) == 64 for r in silver)
    again = read_transactions(spark, mapping, [write(tmp_path, LINES)], "EUR").collect()
    assert sorted(r["order_id"] for r in again) == sorted(r["order_id"] for r in raw.collect())


def test_csv_file_without_header_uses_the_mapped_names(spark, tmp_path):
    path = mapping_with(
        tmp_path,
        separator=";",
        header=False,
        names=["when", "who", "eur", "ref"],
        timestamp_format="yyyy-MM-dd HH:mm",
        columns={"customer_id": "who", "timestamp": "when", "amount": "eur", "order_id": "ref"},
    )
    mapping = load_mapping(path)
    raw = read_transactions(spark, mapping, [write(tmp_path, ["2024-03-05 14:30;K1;9.99;B-1"])], "EUR")
    row = raw.first()
    assert (row["order_id"], row["customer_id"], row["order_ts"], row["gross_amount"], row["items"]) == (
        "B-1",
        "K1",
        "2024-03-05T14:30:00Z",
        "9.99",
        None,
    )


def test_a_mapping_naming_a_missing_column_fails_naming_it(spark, tmp_path):
    path = mapping_with(tmp_path, columns={"customer_id": "kunde", "timestamp": "datum", "amount": "summe"})
    with pytest.raises(InputError, match=r"column 'summe' \(columns.amount\) is not in .*pos_2024-03.txt"):
        read_transactions(spark, load_mapping(path), [write(tmp_path, LINES)], "EUR")


def test_a_bad_mapping_is_a_config_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="key 'separator'"):
        load_mapping(mapping_with(tmp_path, separator="::"))
    with pytest.raises(ConfigError, match="missing key 'columns.amount'"):
        load_mapping(mapping_with(tmp_path, columns={"customer_id": "a", "timestamp": "b"}))
    with pytest.raises(ConfigError, match="key 'name'"):
        load_mapping(mapping_with(tmp_path, name="orders"))


def test_a_transactions_only_landing_area_needs_none_of_the_six_sources(spark, tmp_path):
    cfg = make_config(tmp_path, ingest={"transaction_sources": [str(EXAMPLE)]})
    write(tmp_path, LINES[:3])  # landing/pos/ only: no orders, refunds, customers, … folders
    counts = {c.source: c for c in ingest.run(spark, cfg, date(2025, 1, 1))["sources"]}
    assert (counts["pos_transactions"].files, counts["pos_transactions"].accepted) == (1, 2)
    assert all(c.files == 0 for name, c in counts.items() if name != "pos_transactions")
    assert Lake(spark, cfg.lake.root).read("orders").count() == 2


def test_without_transactions_files_a_missing_source_is_still_an_error(spark, tmp_path):
    write(tmp_path, LINES[:3])
    with pytest.raises(InputError, match="no landing files for source 'orders'"):
        ingest.run(spark, make_config(tmp_path), date(2025, 1, 1))


def test_a_file_whose_columns_are_reordered_is_refused_not_misread(spark, tmp_path):
    mapping = load_mapping(str(EXAMPLE))
    first = write(tmp_path, LINES)
    swapped = write(tmp_path, ["kunde datum stueck betrag", "K19 07.03.2024 1 3.50"], "pos_2024-04.txt")
    with pytest.raises(
        InputError,
        match=r"pos_2024-04\.txt: its header \['kunde', 'datum', 'stueck', 'betrag'\] "
        r"differs from \['kunde', 'datum', 'betrag', 'stueck'\] of \S*pos_2024-03\.txt",
    ):
        read_transactions(spark, mapping, [first, swapped], "EUR")
