"""Honest selection: the form is chosen on the time evaluations, never on the held-out customers it is reported on."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F

from clvlake.errors import ConfigError, InputError
from clvlake.modeling.evaluation import (
    CALIBRATION,
    REPORT,
    SELECTION,
    Evaluation,
    FittedForm,
    Outcome,
    best_on_calibration,
    metric_rows,
)
from clvlake.modeling.train import best_form, require_customers
from tests.support.config import make_config

C0, C1 = date(2025, 1, 1), date(2024, 10, 1)
AS_OF = date(2026, 1, 1)


def outcome(name: str, used_for: str, gini: dict[str, float], deciles) -> Outcome:
    evaluation = Evaluation(name, C0 if used_for == REPORT else C1, C0, None, None, used_for, None)
    metrics = {f"gbt_{form}": {"normalised_gini": value} for form, value in gini.items()}
    return Outcome(evaluation, {}, metrics, None, deciles)


@pytest.fixture
def outcomes(spark):
    """`raw` is far better on the reported customers, `log1p` better on both time evaluations."""
    deciles = spark.createDataFrame(
        [("gbt_raw", 1, 10, 1.0, 2.0)],
        "method string, decile int, customers long, mean_predicted double, mean_actual double",
    )
    return [
        outcome("customers", REPORT, {"raw": 0.9, "log1p": 0.1}, deciles),
        outcome("time_2024-10-01", SELECTION, {"raw": 0.40, "log1p": 0.50}, deciles),
        outcome("time_2024-07-01", SELECTION, {"raw": 0.41, "log1p": 0.45}, deciles),
    ]


def test_the_form_is_chosen_on_the_time_evaluations_only(tmp_path, outcomes):
    cfg = make_config(tmp_path, model={"forms": ["raw", "log1p"], "backtest_snapshots": 3})
    assert best_form(outcomes, cfg) == "log1p"  # averaged over all three, raw would win (0.57 vs 0.35)


def test_one_form_needs_no_selection(tmp_path, outcomes):
    cfg = make_config(tmp_path, model={"forms": ["raw"], "backtest_snapshots": 1})
    assert best_form(outcomes[:1], cfg) == "raw"


def test_several_forms_without_time_evaluations_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"'model\.backtest_snapshots' must be ≥ 2"):
        make_config(tmp_path, model={"forms": ["raw", "log1p"], "backtest_snapshots": 1})


def test_backtest_metrics_say_which_evaluation_selected_and_which_reports(spark, outcomes):
    rows = metric_rows(spark, outcomes)
    used = {
        (r["evaluation"], r["used_for"]) for r in rows.select("evaluation", "used_for").distinct().collect()
    }
    assert used == {("customers", REPORT), ("time_2024-10-01", SELECTION), ("time_2024-07-01", SELECTION)}
    assert (
        rows.where(F.col("decile").isNotNull() & (F.col("used_for") == REPORT)).count() == 3
    )  # its deciles too


def calibrated(gini: dict[str, float], rmse: dict[str, float]) -> dict[str, FittedForm]:
    """Forms with metrics measured on their calibration customers (no model: selection reads only those)."""
    return {
        form: FittedForm(form, None, None, None, None, {"normalised_gini": gini[form], "rmse": rmse[form]})
        for form in gini
    }


def test_the_backtest_chooses_the_form_on_its_calibration_customers_by_the_selection_metric():
    forms = calibrated({"raw": 0.6, "hurdle": 0.7}, {"raw": 90.0, "hurdle": 110.0})
    assert best_on_calibration(forms, "normalised_gini") == "hurdle"
    assert best_on_calibration(forms, "rmse") == "raw"  # lower is better


def test_backtest_metrics_hold_the_calibration_customers_metrics_as_a_selection_at_the_training_snapshot(
    spark, outcomes
):
    report = outcomes[0]
    forms = calibrated({"raw": 0.6, "hurdle": 0.7}, {"raw": 90.0, "hurdle": 110.0})
    rows = metric_rows(spark, [Outcome(report.evaluation, forms, report.metrics, None, report.deciles)])
    chosen_on = rows.where(F.col("evaluation") == CALIBRATION)
    got = {
        (r["snapshot_date"], r["method"], r["metric"], r["value"], r["used_for"]) for r in chosen_on.collect()
    }
    assert got == {
        (C0, f"gbt_{form}", metric, forms[form].calibration_metrics[metric], SELECTION)
        for form in forms
        for metric in ("normalised_gini", "rmse")
    }


@pytest.mark.parametrize(
    "rows, short",
    [
        ([(C0, True), (C0, False), (C1, False)], None),
        ([(C0, False), (C1, False)], C0),  # c0 without held-out customers
        ([(C0, True), (C0, False), (C1, True)], C1),  # an earlier snapshot without training customers
    ],
)
def test_training_stops_naming_the_snapshot_without_customers_to_fit_or_evaluate(spark, rows, short):
    data = spark.createDataFrame(rows, "snapshot_date date, is_holdout boolean")
    if short is None:
        require_customers(data, [C0, C1], AS_OF)
        return
    with pytest.raises(InputError, match=f"not enough customers before the training snapshot {short} "):
        require_customers(data, [C0, C1], AS_OF)
