"""Monitoring building blocks: PSI against a hand computation, a shifted feature flagged, checks."""

from datetime import date

import numpy as np
import pytest

from clvlake import schemas
from clvlake.monitoring.checks import drift_checks, freshness_checks, score_checks
from clvlake.monitoring.drift import population_stability
from clvlake.monitoring.realised import matured_score_dates


def frame(spark, columns: dict[str, list[float]]):
    names = list(columns)
    rows = list(zip(*columns.values(), strict=True))
    return spark.createDataFrame(rows, ", ".join(f"{n} double" for n in names))


def test_psi_matches_a_hand_computation(spark):
    # 2 bins split at the reference's approximate median, 4: [-inf, 4) holds 0..3 (40 %), [4, inf) the rest;
    # the current data puts 20 % below and 80 % above
    reference = frame(spark, {"x": [float(i) for i in range(10)]})
    current = frame(spark, {"x": [1.0, 2.0] + [9.0] * 8})
    psi = population_stability(reference, current, ["x"], bins=2).first()["psi"]
    expected, actual = np.array([0.4, 0.6]), np.array([0.2, 0.8])
    assert psi == pytest.approx(float(np.sum((actual - expected) * np.log(actual / expected))))


def test_a_shifted_feature_is_flagged_and_a_stable_one_is_not(spark):
    rng = np.random.default_rng(3)
    base = rng.gamma(2.0, 50.0, 2000)
    reference = frame(spark, {"spend": base.tolist(), "visits": rng.poisson(4, 2000).astype(float).tolist()})
    current = frame(
        spark,
        {
            "spend": (base[:1500] * 1.8).tolist() + base[1500:].tolist(),
            "visits": rng.poisson(4, 2000).astype(float).tolist(),
        },
    )
    checks = {
        c.name: c
        for c in drift_checks(
            population_stability(reference, current, ["spend", "visits"], 10), "drift", 0.25
        )
    }
    assert checks["psi:spend"].breached and checks["psi:spend"].value > 0.25
    assert not checks["psi:visits"].breached and checks["psi:visits"].value < 0.1


def test_identical_distributions_have_zero_psi(spark):
    data = frame(spark, {"x": [float(i % 17) for i in range(500)]})
    assert population_stability(data, data, ["x"], 10).first()["psi"] == pytest.approx(0.0, abs=1e-12)


def test_score_checks_catch_invalid_duplicate_and_missing_customers(spark):
    scores = spark.createDataFrame(
        [("a", 1.0), ("b", -2.0), ("b", 3.0), ("c", None)], "customer_key string, predicted_clv double"
    )
    checks = {c.name: c for c in score_checks(scores, features_rows=4)}
    assert checks["invalid_predictions"].value == 2 and checks["invalid_predictions"].breached
    assert checks["duplicate_customers"].value == 1
    assert checks["unscored_customers"].value == 1


def test_only_score_dates_whose_horizon_has_passed_are_matured():
    dates = [date(2025, 1, 1), date(2025, 3, 1), date(2025, 6, 1)]
    assert matured_score_dates(dates, date(2025, 7, 1), horizon_days=120) == [
        date(2025, 1, 1),
        date(2025, 3, 1),
    ]
    assert matured_score_dates(dates, date(2025, 1, 1), 1) == []


def test_a_score_date_judged_by_an_earlier_run_is_not_judged_again():
    dates = [date(2025, 1, 1), date(2025, 3, 1), date(2025, 6, 1)]
    judged = frozenset({date(2025, 1, 1)})  # an earlier run judged it (and may have alerted)
    assert matured_score_dates(dates, date(2025, 7, 1), 120, judged) == [date(2025, 3, 1)]


def test_a_source_without_a_new_file_for_longer_than_its_limit_alerts(spark):
    """Freshness per source from the ingest runs that loaded files; `default` covers sources not named."""

    def batch(source: str, run_date: date, files: int) -> tuple:
        return (
            run_date,
            f"ingest-{run_date}",
            source,
            f"{source}-{run_date}",
            files,
            9,
            9,
            0,
            0,
            0.0,
            {},
            {},
            0,
            {},
        )

    quality = spark.createDataFrame(
        [
            batch("orders", date(2025, 6, 27), 1),
            batch("orders", date(2025, 6, 29), 0),  # a run without a new orders file does not count
            batch("customers", date(2025, 6, 1), 1),
            batch("sessions", date(2025, 6, 30), 1),
            batch("sessions", date(2025, 7, 3), 1),  # after the monitored date
        ],
        schemas.QUALITY_CHECKS,
    )
    checks = freshness_checks(quality, date(2025, 7, 1), {"default": 3, "customers": 35})
    assert [(c.name, c.value, c.threshold, c.breached) for c in checks] == [
        ("days_without_files:customers", 30.0, 35.0, False),
        ("days_without_files:orders", 4.0, 3.0, True),
        ("days_without_files:sessions", 1.0, 3.0, False),
    ]
    only_named = freshness_checks(
        quality, date(2025, 7, 1), {"customers": 35}
    )  # no default: others unchecked
    assert [c.name for c in only_named] == ["days_without_files:customers"]
