"""Discounted values and the BG/NBD predictions over several horizons (`clvlake.scoring.horizons`)."""

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from clvlake.modeling.btyd import BgNbdParams, BtydModel, GammaGammaParams, with_btyd_features
from clvlake.scoring.horizons import discount_factor, horizon_rows

MODEL = BtydModel(BgNbdParams(0.243, 4.414, 0.793, 2.426), GammaGammaParams(6.25, 3.74, 15.44), 7.0)


def test_no_discount_rate_is_no_discount():
    assert discount_factor(365, 0.0) == 1.0


@pytest.mark.parametrize(("horizon_days", "rate"), [(365, 0.10), (90, 0.10), (730, 0.25)])
def test_the_factor_is_the_mean_present_value_of_value_spread_evenly_over_the_horizon(horizon_days, rate):
    years = np.linspace(0, horizon_days / 365, 200_001)
    assert discount_factor(horizon_days, rate) == pytest.approx(
        float(np.mean((1 + rate) ** -years)), rel=1e-6
    )


@pytest.fixture(scope="module")
def features(spark):
    rows = [("a", 4, 3, 200.0, 273.0, 35.0), ("b", 2, 1, 7.0, 70.0, 20.0), ("never", 0, 0, 0.0, 0.0, 0.0)]
    return spark.createDataFrame(
        rows,
        "customer_key string, orders_total int, bt_frequency int, bt_recency_days double, "
        "bt_tenure_days double, bt_monetary_value double",
    ).withColumn("snapshot_date", F.to_date(F.lit("2026-01-01")))


def test_each_customer_has_a_row_per_horizon_consistent_with_the_scores(features):
    rows = horizon_rows(features, MODEL, [365, 90, 180], 0.10, "7")
    assert rows.count() == 3 * 3
    by_key = {(r["customer_key"], r["horizon_days"]): r for r in rows.collect()}
    scored = {r["customer_key"]: r for r in with_btyd_features(features, MODEL, 365).collect()}
    for key in ("a", "b"):
        one_year = by_key[(key, 365)]
        assert one_year["expected_orders"] == pytest.approx(scored[key]["btyd_expected_orders"], rel=1e-12)
        assert one_year["expected_value"] == pytest.approx(scored[key]["btyd_value"], rel=1e-12)
        assert 0 < by_key[(key, 90)]["expected_orders"] < by_key[(key, 180)]["expected_orders"]
        assert by_key[(key, 180)]["expected_orders"] < one_year["expected_orders"]
        for h in (90, 180, 365):
            row = by_key[(key, h)]
            assert row["discounted_value"] == pytest.approx(row["expected_value"] * discount_factor(h, 0.10))
    assert {by_key[("never", h)]["expected_value"] for h in (90, 180, 365)} == {0.0}


def test_the_rows_keep_the_contract_and_the_rate(spark, features):
    rows = horizon_rows(features.where(F.col("customer_key") == "never"), MODEL, [90], 0.0, "7")
    expected = spark.createDataFrame(
        [("never", features.first()["snapshot_date"], 90, 0.0, 0.0, 0.0, 0.0, "7")],
        "customer_key string, score_date date, horizon_days int, expected_orders double, expected_value double, "
        "discounted_value double, discount_rate double, model_version string",
    )
    assert_df_equality(rows, expected, ignore_nullable=True)
