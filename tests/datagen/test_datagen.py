"""Tests of the synthetic data generator and its oracle (pandas/numpy only, no Spark)."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvlake.cli import main
from clvlake.datagen import expected_value, generate
from clvlake.errors import InputError
from tests.support.config import write_config

START, END = pd.Timestamp("2023-01-01", tz="UTC"), pd.Timestamp("2026-01-01", tz="UTC")
CONTRACT = {
    "customers": ("csv", ["customer_id", "signup_ts", "acquisition_channel", "country", "email", "name",
                          "marketing_consent"]),
    "orders": ("csv", ["order_id", "customer_id", "order_ts", "channel", "currency", "gross_amount",
                       "discount_amount", "shipping_cost", "cost_of_goods", "items", "product_category"]),
    "refunds": ("csv", ["refund_id", "order_id", "customer_id", "refund_ts", "amount"]),
    "sessions": ("jsonl", ["session_id", "customer_id", "session_start", "device", "pages_viewed",
                           "traffic_source"]),
    "email_events": ("jsonl", ["event_id", "customer_id", "campaign_id", "event_type", "event_ts"]),
    "support_tickets": ("jsonl", ["ticket_id", "customer_id", "opened_ts", "closed_ts", "category",
                                  "satisfaction"]),
}  # fmt: skip
TIMESTAMPS = {
    "customers": ["signup_ts"],
    "orders": ["order_ts"],
    "refunds": ["refund_ts"],
    "sessions": ["session_start"],
    "email_events": ["event_ts"],
    "support_tickets": ["opened_ts", "closed_ts"],
}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read(landing: Path, source: str) -> pd.DataFrame:
    fmt, columns = CONTRACT[source]
    paths = sorted((landing / source).glob(f"{source}_*.{fmt}"))
    if fmt == "csv":
        text = {c: str for c in columns if c.endswith(("_id", "_ts")) or c == "marketing_consent"}
        frames = [pd.read_csv(p, dtype=text) for p in paths]
    else:
        frames = [pd.read_json(p, lines=True, dtype=False, convert_dates=False) for p in paths]
    return pd.concat(frames, ignore_index=True)


def _ts(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, format="%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    generate(root / "landing", root / "oracle", customers=1_500, seed=11)
    return root


@pytest.fixture(scope="module")
def tables(run: Path) -> dict[str, pd.DataFrame]:
    return {source: _read(run / "landing", source) for source in CONTRACT}


def test_same_seed_is_byte_identical_whatever_the_chunk_size(run: Path, tmp_path: Path) -> None:
    generate(tmp_path / "landing", tmp_path / "oracle", customers=1_500, seed=11, chunk_size=1_000)
    assert _files(tmp_path) == _files(run)


def test_different_seed_differs(run: Path, tmp_path: Path) -> None:
    generate(tmp_path / "landing", tmp_path / "oracle", customers=1_500, seed=12)
    name = "orders/orders_2024-06.csv"
    assert _files(tmp_path / "landing")[name] != _files(run / "landing")[name]


def test_layout_headers_and_keys(run: Path) -> None:
    for source, (fmt, columns) in CONTRACT.items():
        paths = sorted((run / "landing" / source).iterdir())
        assert [p.name for p in paths] == sorted({p.name for p in paths})
        assert all(p.name.startswith(f"{source}_20") and p.suffix == f".{fmt}" for p in paths), source
        for path in paths:
            first = path.read_text(encoding="utf-8").splitlines()[:2]
            if fmt == "csv":
                assert first[0] == ",".join(columns)
            else:
                assert list(json.loads(first[0])) == columns
    assert not list(run.rglob("*.tmp"))
    assert len(list((run / "landing" / "orders").iterdir())) == 36


def test_ids_unique_and_fixed_width(tables: dict[str, pd.DataFrame]) -> None:
    for source, frame in tables.items():
        ids = frame[CONTRACT[source][1][0]]
        assert ids.is_unique, source
        assert ids.str.len().nunique() == 1, source
    assert tables["customers"]["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert tables["orders"]["order_id"].str.fullmatch(r"O\d{8}").all()
    assert tables["customers"]["email"].is_unique
    assert set(tables["customers"]["marketing_consent"]) == {"true", "false"}


def test_timestamps_parse_and_lie_in_the_window(tables: dict[str, pd.DataFrame]) -> None:
    for source, columns in TIMESTAMPS.items():
        for column in columns:
            values = tables[source][column].dropna()
            parsed = _ts(values)
            assert parsed.min() >= START and parsed.max() < END, (source, column)
    signup = _ts(tables["customers"]["signup_ts"])
    assert signup.max() < END - pd.Timedelta(days=30)


def test_order_rules(tables: dict[str, pd.DataFrame]) -> None:
    orders = tables["orders"]
    assert (orders["currency"] == "EUR").all()
    assert set(orders["channel"]) <= {"web", "app", "store", "marketplace"}
    assert set(orders["product_category"]) <= {"apparel", "beauty", "electronics", "home", "sports", "toys"}
    assert (orders["items"] >= 1).all()
    assert ((orders["discount_amount"] >= 0) & (orders["discount_amount"] < orders["gross_amount"])).all()
    share = orders["cost_of_goods"] / orders["gross_amount"]
    assert share.between(0.39, 0.66).all()
    assert (orders.loc[orders["channel"] == "store", "shipping_cost"] == 0).all()
    assert orders["customer_id"].isin(tables["customers"]["customer_id"]).all()


def test_refunds_reference_orders_and_never_exceed_net(tables: dict[str, pd.DataFrame]) -> None:
    orders = tables["orders"].set_index("order_id")
    refunds = tables["refunds"]
    assert refunds["order_id"].isin(orders.index).all()
    order = orders.loc[refunds["order_id"]]
    assert (refunds["customer_id"].to_numpy() == order["customer_id"].to_numpy()).all()
    net = (order["gross_amount"] - order["discount_amount"]).to_numpy()
    assert ((refunds["amount"].to_numpy() > 0) & (refunds["amount"].to_numpy() <= net + 1e-9)).all()
    delay = (_ts(refunds["refund_ts"]).to_numpy() - _ts(order["order_ts"]).to_numpy()) / np.timedelta64(
        1, "h"
    )
    assert delay.min() >= 3 * 24 and delay.max() <= 42 * 24
    assert 0.02 < len(refunds) / len(orders) < 0.09


def test_email_events_follow_consent_and_unsubscribe(tables: dict[str, pd.DataFrame]) -> None:
    events = tables["email_events"].assign(ts=lambda f: _ts(f["event_ts"]))
    customers = tables["customers"].set_index("customer_id")
    sent = events[events["event_type"] == "sent"]
    assert (customers.loc[sent["customer_id"], "marketing_consent"].to_numpy() == "true").all()
    assert (sent["ts"].to_numpy() >= _ts(customers.loc[sent["customer_id"], "signup_ts"]).to_numpy()).all()
    sent_at = sent.set_index(["customer_id", "campaign_id"])["ts"]
    reactions = events[events["event_type"] != "sent"].set_index(["customer_id", "campaign_id"])
    assert (reactions["ts"] > sent_at.loc[reactions.index]).all()
    unsub = events[events["event_type"] == "unsubscribe"].groupby("customer_id")["ts"].min()
    later = sent.join(unsub.rename("unsub"), on="customer_id", how="inner")
    assert not (later["ts"] > later["unsub"]).any()
    assert set(events["event_type"]) == {"sent", "open", "click", "unsubscribe"}


def test_tickets_and_sessions_values(tables: dict[str, pd.DataFrame]) -> None:
    tickets = tables["support_tickets"]
    closed = tickets.dropna(subset=["closed_ts"])
    assert (_ts(closed["closed_ts"]) > _ts(closed["opened_ts"])).all()
    assert tickets["satisfaction"].dropna().isin([1, 2, 3, 4, 5]).all()
    assert tickets["satisfaction"].isna().any()
    sessions = tables["sessions"]
    assert (sessions["pages_viewed"] >= 1).all()
    assert set(sessions["device"]) <= {"desktop", "mobile", "tablet", "app"}
    assert set(sessions["traffic_source"]) <= {"direct", "search", "social", "email", "ads", "referral"}


def test_data_spans_at_least_two_years(tables: dict[str, pd.DataFrame]) -> None:
    order_ts = _ts(tables["orders"]["order_ts"])
    assert (order_ts.max() - order_ts.min()).days >= 730
    assert set(order_ts.dt.year) == {2023, 2024, 2025}


def test_twice_the_customers_gives_about_twice_the_orders(run: Path, tmp_path: Path) -> None:
    summary = generate(tmp_path / "landing", tmp_path / "oracle", customers=3_000, seed=11)
    small = len(_read(run / "landing", "orders"))
    assert 1.6 < summary.rows["orders"] / small < 2.4
    assert summary.rows["customers"] == 3_000 and summary.customers == 3_000


def test_oracle_is_calibrated_against_realised_net_value(tmp_path: Path) -> None:
    """Mean realised net value in [c, c+365) matches the oracle's mean within 4 standard errors."""
    generate(tmp_path / "landing", tmp_path / "oracle", customers=3_000, seed=5)
    c = date(2025, 1, 1)
    orders = _read(tmp_path / "landing", "orders")
    refunds = _read(tmp_path / "landing", "refunds").groupby("order_id")["amount"].sum()
    in_window = orders[_ts(orders["order_ts"]) >= pd.Timestamp(c, tz="UTC")]
    refunded = in_window["order_id"].map(refunds).fillna(0)
    net = in_window["gross_amount"] - in_window["discount_amount"] - refunded
    realised = net.groupby(in_window["customer_id"]).sum()
    truth = pd.read_csv(tmp_path / "oracle" / "customer_truth.csv")
    expected = expected_value(truth, c, 365).set_index("customer_id")["expected_value"]
    realised = realised.reindex(expected.index, fill_value=0.0)
    diff = realised - expected
    standard_error = diff.std() / np.sqrt(len(diff))
    assert abs(diff.mean()) < 4 * standard_error
    assert np.corrcoef(realised, expected)[0, 1] > 0.6
    assert expected.mean() > 20


def test_oracle_value_file_matches_expected_value(run: Path) -> None:
    truth = pd.read_csv(run / "oracle" / "customer_truth.csv")
    written = pd.read_csv(run / "oracle" / "oracle_value_365d_2026-01-01.csv")
    recomputed = expected_value(truth, date(2026, 1, 1), 365)
    assert list(written.columns) == ["customer_id", "expected_value"]
    np.testing.assert_allclose(written["expected_value"], recomputed["expected_value"], rtol=1e-12)


def test_oracle_closed_form_cases() -> None:
    """Alive, ~no dropout: lambda * net * sum of s(t); dead, later and never-buyers: 0; new: + first order."""
    truth = pd.DataFrame(
        {
            "customer_id": ["alive", "dead", "never", "new", "later"],
            "first_purchase_ts": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", None,
                                  "2025-03-01T00:00:00Z", "2026-06-01T00:00:00Z"],
            "dropout_ts": ["2030-01-01T00:00:00Z", "2024-06-01T00:00:00Z", None,
                           "2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z"],
            "lambda_per_day": [0.01, 0.01, 0.0, 0.01, 0.01],
            "mu_per_day": [1e-12] * 5,
            "mean_order_value": [100.0] * 5,
            "expected_discount_share": [0.1] * 5,
            "expected_refund_share": [0.05] * 5,
        }
    )  # fmt: skip
    value = expected_value(truth, date(2025, 1, 1), 365).set_index("customer_id")["expected_value"]
    days = pd.date_range("2025-01-01", periods=365).month
    seasonality = [0.80, 0.80, 0.95, 0.95, 1.00, 0.95, 0.90, 0.95, 1.00, 1.05, 1.25, 1.40]
    season_sum = sum(seasonality[m - 1] for m in days)
    assert value["alive"] == pytest.approx(0.01 * 85 * season_sum, rel=1e-6)
    assert value["dead"] == value["never"] == value["later"] == 0
    assert value["new"] == pytest.approx(85 * (1 + 0.01 * (season_sum - 0.8 * 59)), rel=1e-6)


def test_error_injection_adds_exactly_the_manifest_rows(run: Path, tmp_path: Path) -> None:
    summary = generate(tmp_path / "landing", tmp_path / "oracle", customers=1_500, seed=11, error_rate=0.02)
    manifest = pd.read_csv(tmp_path / "oracle" / "injected_errors.csv", dtype=str, keep_default_na=False)
    assert list(manifest.columns) == ["source", "file", "kind", "key", "raw"]
    assert len(manifest) == summary.injected_errors > 0
    assert {"duplicate", "malformed", "bad_timestamp", "negative_amount", "unknown_currency",
            "future_timestamp", "orphan_refund"} >= set(manifest["kind"])  # fmt: skip
    assert {"duplicate", "malformed", "bad_timestamp", "future_timestamp"} <= set(manifest["kind"])
    fresh = manifest[manifest["kind"] != "duplicate"]
    assert fresh["key"].str.fullmatch(r"[A-Z]X\d{7}").all()
    clean = _files(run / "landing")
    for file, rows in manifest.groupby("file"):
        lines = (tmp_path / "landing" / file).read_text(encoding="utf-8").splitlines()
        for raw in rows["raw"]:
            lines.remove(raw)
        assert "\n".join(lines) + "\n" == clean[file].decode("utf-8"), file
    untouched = set(clean) - set(manifest["file"])
    assert all((tmp_path / "landing" / f).read_bytes() == clean[f] for f in untouched)


def test_no_errors_means_no_manifest_and_stale_one_removed(tmp_path: Path) -> None:
    generate(tmp_path / "landing", tmp_path / "oracle", customers=300, seed=1, error_rate=0.05)
    assert (tmp_path / "oracle" / "injected_errors.csv").exists()
    summary = generate(tmp_path / "landing", tmp_path / "oracle", customers=300, seed=1)
    assert summary.injected_errors == 0
    assert not (tmp_path / "oracle" / "injected_errors.csv").exists()


def test_invalid_arguments_raise_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        generate(tmp_path, tmp_path, customers=0)
    with pytest.raises(InputError):
        generate(tmp_path, tmp_path, start=date(2025, 1, 1), end=date(2025, 1, 31))


def test_clv_generate_writes_the_configured_folders_logs_progress_and_exits_2_on_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    start, end = date(2024, 1, 1), date(2024, 6, 30)
    conf = str(write_config(tmp_path / "clv", generator={"start": start, "end": end}))
    caplog.set_level(logging.INFO, logger="clvlake")
    assert (
        main(["generate", "--conf", conf, "--customers", "200", "--seed", "3", "--error-rate", "0.05"]) == 0
    )
    line = json.loads(capsys.readouterr().out)
    assert line["job"] == "generate" and line["status"] == "ok"
    assert line["customers"] == 200 and line["rows"]["customers"] == 200 and line["injected_errors"] > 0
    assert "chunk 1/1: customers up to 200" in caplog.text
    assert "generated 200 customers" in caplog.text
    direct = generate(tmp_path / "landing", tmp_path / "oracle", 200, 3, start, end, error_rate=0.05)
    assert line["rows"] == direct.rows and line["files_written"] == direct.files_written
    assert _files(tmp_path / "clv" / "landing") == _files(tmp_path / "landing")
    assert _files(tmp_path / "clv" / "oracle") == _files(tmp_path / "oracle")
    assert main(["generate", "--conf", conf, "--customers", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "customers" in err and "Traceback" not in err
