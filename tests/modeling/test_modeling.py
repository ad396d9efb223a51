"""Regressor forms, conformal intervals, formula baselines, the champion rule and the new metrics."""

import dataclasses
import math
from datetime import date, timedelta

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from clvlake.config import TREE_ENGINES, GbtSettings
from clvlake.modeling import regressor
from clvlake.modeling.baselines import FormulaInputs, retention_rate, with_formula_baselines
from clvlake.modeling.champion import decide
from clvlake.modeling.conformal import calibrate, coverage
from clvlake.modeling.dataset import pooled_snapshots, pooled_training_rows
from clvlake.modeling.metrics import evaluate_groups
from clvlake.modeling.regressor import FORMS, clv_pipeline, model_inputs, predict_clv, resolved_workers

TINY_GBT = GbtSettings(max_iter=3, max_depth=2, step_size=0.5, subsampling_rate=1.0, workers=1)


@pytest.fixture(scope="module")
def labelled(spark):
    """80 customers: value driven by the first feature, half of them buying nothing (every model input)."""
    rng = np.random.default_rng(3)
    inputs = model_inputs(btyd_features=True)
    rows = []
    for i in range(80):
        features = [float(v) for v in rng.poisson(2, len(inputs))]
        label = (10.0 * (1 + features[0]) + rng.exponential(5)) if i % 2 else 0.0
        rows.append((f"c{i}", *features, label))
    return spark.createDataFrame(rows, ["customer_key", *inputs, "label"]).cache()


@pytest.mark.parametrize("engine", TREE_ENGINES)
@pytest.mark.parametrize("form", FORMS)
def test_each_form_is_calibrated_on_the_total_and_round_trips(labelled, form, engine, tmp_path):
    model = clv_pipeline(dataclasses.replace(TINY_GBT, engine=engine), 1, form).fit(labelled)
    predicted = predict_clv(model, labelled.drop("label"))
    assert predicted.columns == [*labelled.drop("label").columns, "prediction"]
    total = predicted.agg(F.sum("prediction")).first()[0]
    assert total == pytest.approx(labelled.agg(F.sum("label")).first()[0], rel=1e-6)
    assert predicted.where(F.col("prediction") < 0).isEmpty()
    model.write().save(str(tmp_path / "model"))
    reloaded = predict_clv(PipelineModel.load(str(tmp_path / "model")), labelled.drop("label"))
    assert reloaded.agg(F.sum("prediction")).first()[0] == pytest.approx(total, rel=1e-9)


def test_a_missing_input_is_zero_to_the_model_and_comes_back_missing(labelled):
    """A snapshot without a BTYD fit has null BTYD inputs: the model reads them as 0, and the rows it returns keep
    them null (P(alive) unknown is not P(alive) = 0 in the scores)."""
    model = clv_pipeline(TINY_GBT, 1, "raw", btyd_features=True).fit(labelled)
    unknown = labelled.drop("label").withColumn("btyd_p_alive", F.lit(None).cast("double"))
    predicted = predict_clv(model, unknown)
    assert predicted.where(F.col("btyd_p_alive").isNotNull()).isEmpty()
    as_zero = predict_clv(model, unknown.fillna(0.0, subset=["btyd_p_alive"]))
    assert_df_equality(
        predicted.select("customer_key", "prediction"), as_zero.select("customer_key", "prediction")
    )


def test_a_pool_of_snapshots_is_calibrated_on_the_total_of_its_latest(labelled):
    latest, earlier = date(2025, 1, 1), date(2024, 10, 2)
    pooled = labelled.withColumn("snapshot_date", F.lit(latest)).unionByName(
        labelled.withColumns({"snapshot_date": F.lit(earlier), "label": F.col("label") * 3})
    )
    predicted = predict_clv(clv_pipeline(TINY_GBT, 1, "raw").fit(pooled), pooled)
    totals = {
        r["snapshot_date"]: r
        for r in predicted.groupBy("snapshot_date")
        .agg(F.sum("label").alias("actual"), F.sum("prediction").alias("predicted"))
        .collect()
    }
    assert totals[latest]["predicted"] == pytest.approx(totals[latest]["actual"], rel=1e-6)
    assert totals[earlier]["predicted"] < totals[earlier]["actual"] * 0.9


def test_a_fit_pools_the_training_customers_of_earlier_snapshots(spark):
    c = date(2025, 1, 1)
    assert pooled_snapshots(c, 3, 91) == [c, date(2024, 10, 2), date(2024, 7, 3)]
    data = spark.createDataFrame(
        [(key, c - timedelta(days=91 * k), key == "held") for key in ("a", "b", "held") for k in range(5)],
        "customer_key string, snapshot_date date, is_holdout boolean",
    )
    expected = spark.createDataFrame(
        [(key, c - timedelta(days=91 * k), False) for key in ("a", "b") for k in range(1, 4)],
        data.schema,
    )
    assert_df_equality(
        pooled_training_rows(data, c - timedelta(days=91), 3, 91), expected, ignore_row_order=True
    )


def test_automatic_workers_take_one_task_per_share_of_rows_up_to_the_slots(spark, monkeypatch):
    monkeypatch.setattr(regressor, "ROWS_PER_WORKER", 30)
    automatic = dataclasses.replace(TINY_GBT, workers=0)
    slots = spark.sparkContext.defaultParallelism  # 2: the test session is local[2]
    assert [resolved_workers(automatic, spark.range(n)).workers for n in (0, 30, 31, 200)] == [1, 1, 2, slots]
    assert resolved_workers(dataclasses.replace(TINY_GBT, workers=3), spark.range(200)).workers == 3
    with pytest.raises(ValueError, match="automatic"):
        clv_pipeline(automatic, 1, "raw")


def test_unknown_form_is_rejected():
    with pytest.raises(ValueError, match="unknown model form"):
        clv_pipeline(TINY_GBT, 1, "linear")


def test_conformal_interval_covers_at_least_the_level_on_its_calibration_rows(spark):
    rng = np.random.default_rng(5)
    predicted = rng.exponential(20, 500)
    actual = predicted * rng.lognormal(0, 0.5, 500)
    df = spark.createDataFrame(
        list(zip(actual.tolist(), predicted.tolist(), strict=True)), "label double, prediction double"
    )
    conformal = calibrate(df, 0.8)
    assert conformal.scale == pytest.approx(predicted.mean())
    scores = np.abs(actual - predicted) / (predicted + predicted.mean())
    assert conformal.quantile == pytest.approx(np.quantile(scores, math.ceil(501 * 0.8) / 500), rel=0.02)
    bounded = df.withColumns(
        {"clv_lower": conformal.lower(F.col("prediction")), "clv_upper": conformal.upper(F.col("prediction"))}
    )
    assert 0.8 <= coverage(bounded) <= 0.82
    assert bounded.where(F.col("clv_lower") < 0).isEmpty()


def test_conformal_interval_keeps_its_level_when_some_customers_are_worth_less_than_nothing(spark):
    """Refunds beyond purchases make a label negative; the interval, floored at zero, cannot reach it."""
    rng = np.random.default_rng(6)
    predicted = rng.exponential(20, 1000)
    actual = predicted * rng.lognormal(0, 0.5, 1000)
    refunded = rng.random(1000) < 0.1
    actual[refunded] = -rng.uniform(0.5, 5.0, refunded.sum())  # small: close to a low prediction
    df = spark.createDataFrame(
        list(zip(actual.tolist(), predicted.tolist(), strict=True)), "label double, prediction double"
    )
    conformal = calibrate(df, 0.8)
    bounded = df.withColumns(
        {"clv_lower": conformal.lower(F.col("prediction")), "clv_upper": conformal.upper(F.col("prediction"))}
    )
    assert bounded.where((F.col("label") < 0) & (F.col("clv_lower") <= F.col("label"))).isEmpty()
    assert 0.8 <= coverage(bounded) <= 0.82


def test_when_too_many_customers_are_worth_less_than_nothing_the_interval_is_unbounded_and_says_so(
    spark, caplog
):
    rows = [(-1.0, 5.0)] * 3 + [(10.0, 8.0)] * 7  # 30 % negative: no interval floored at zero covers 80 %
    conformal = calibrate(spark.createDataFrame(rows, "label double, prediction double"), 0.8)
    assert math.isinf(conformal.quantile)
    assert "clv_upper is unbounded" in caplog.text


def test_formula_baselines_by_hand(spark):
    features = spark.createDataFrame(
        [("a", 100, 200.0, 4, 50.0, 120.0, 2, 0)],
        "customer_key string, customer_age_days int, net_value_total double, orders_total int, "
        "avg_order_value double, net_value_365d double, orders_365d int, unused int",
    )
    row = with_formula_baselines(features, FormulaInputs(retention=0.6, margin=0.5, horizon_days=365)).first()
    assert row["historical_average"] == pytest.approx(200 / 100 * 365)
    assert row["aov_frequency_lifespan"] == pytest.approx(50 * 4 / 100 * 365 * 0.6)
    assert row["revenue_margin_churn"] == pytest.approx(120 * 0.5 * 0.6 / 0.4)
    assert row["comprehensive"] == pytest.approx(50 * 2 * 0.6 * 0.5)


def test_retention_rate_counts_previous_buyers_who_buy_again(spark):
    training = spark.createDataFrame(
        [(1, 5.0), (2, 0.0), (3, 1.0), (0, 9.0)], "orders_total int, label double"
    )
    assert retention_rate(training) == pytest.approx(2 / 3)


def test_top_decile_capture_and_decile_table(spark):
    actual = [100.0] + [0.0] * 9 + [10.0] * 10
    predicted = [float(20 - i) for i in range(20)]  # the first customer is the top one
    df = spark.createDataFrame(
        [("m", a, p) for a, p in zip(actual, predicted, strict=True)],
        "method string, label double, prediction double",
    )
    metrics, table = evaluate_groups(df, "method")
    assert metrics["m"]["top_decile_capture"] == pytest.approx(100 / 200)
    deciles = {r["decile"]: r for r in table.collect()}
    assert sorted(deciles) == list(range(1, 11))
    assert deciles[1]["customers"] == 2
    assert deciles[1]["mean_actual"] == pytest.approx(50.0)
    assert deciles[10]["mean_predicted"] == pytest.approx(1.5)


BASE = {"normalised_gini": 0.5, "spearman": 0.4, "rmse": 100.0}


def test_champion_moves_only_when_every_metric_beats_every_rival():
    better = {"normalised_gini": 0.6, "spearman": 0.5, "rmse": 90.0}
    metrics = list(BASE)
    assert decide(better, {"champion": BASE, "historical_average": BASE}, metrics, True).moved
    worse_rmse = {**better, "rmse": 110.0}
    decision = decide(worse_rmse, {"champion": BASE}, metrics, True)
    assert not decision.moved
    assert "rmse 110.0000 vs champion 100.0000" in decision.reason
    assert not decide(dict(BASE), {"champion": BASE}, metrics, True).moved  # a tie does not move it
    assert not decide({**better, "spearman": float("nan")}, {"champion": BASE}, metrics, True).moved


def test_first_model_becomes_champion():
    decision = decide(BASE, {"historical_average": {**BASE, "rmse": 1.0}}, list(BASE), has_champion=False)
    assert decision.moved and "first model" in decision.reason


@pytest.mark.parametrize(("metric", "expected"), [("normalised_gini", "hurdle"), ("rmse", "log1p")])
def test_the_form_trained_is_the_best_on_the_selection_metric_over_the_evaluations(
    tmp_path, metric, expected
):
    from types import SimpleNamespace

    from clvlake.modeling.evaluation import SELECTION
    from clvlake.modeling.train import best_form
    from tests.support.config import make_config

    cfg = make_config(tmp_path, model={"selection_metric": metric})
    evaluations = [  # hurdle ranks best on average, log1p has the smallest errors on average
        {"gbt_raw": (0.60, 100.0), "gbt_log1p": (0.70, 80.0), "gbt_hurdle": (0.90, 95.0)},
        {"gbt_raw": (0.65, 90.0), "gbt_log1p": (0.72, 85.0), "gbt_hurdle": (0.60, 84.0)},
    ]
    outcomes = [
        SimpleNamespace(
            evaluation=SimpleNamespace(used_for=SELECTION),
            metrics={m: {"normalised_gini": g, "rmse": r} for m, (g, r) in e.items()},
        )
        for e in evaluations
    ]
    assert best_form(outcomes, cfg) == expected
