"""Evaluation metrics against hand computations and scipy."""

import math

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from scipy.stats import spearmanr

from clvlake.modeling.metrics import METRICS, evaluate, evaluate_groups, gain_curves

ACTUAL = [10.0, 0.0, 5.0, 0.0]


def frame(spark, actual, predicted):
    return spark.createDataFrame(list(zip(actual, predicted, strict=True)), "label double, prediction double")


def normalised_gini(spark, actual, predicted):
    return evaluate(frame(spark, actual, predicted))["normalised_gini"]


def test_normalised_gini_by_hand(spark):
    # gain curve of the order 10, 0, 5, 0 against the perfect order 10, 5, 0, 0: (5/12) / (7/12)
    assert normalised_gini(spark, ACTUAL, [4.0, 3.0, 2.0, 1.0]) == pytest.approx(5 / 7)


def test_gini_steps_over_tied_scores_instead_of_ordering_them_by_chance(spark):
    assert normalised_gini(spark, ACTUAL, [1.0, 1.0, 0.0, 0.0]) == pytest.approx(2 / 7)


def test_perfect_and_reversed_orderings(spark):
    assert normalised_gini(spark, ACTUAL, ACTUAL) == pytest.approx(1.0)
    assert normalised_gini(spark, ACTUAL, [-a for a in ACTUAL]) < 0


def test_error_metrics_by_hand(spark):
    m = evaluate(frame(spark, [1.0, 2.0, 3.0], [2.0, 2.0, 5.0]))
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 0 + 4) / 3))
    assert m["mae"] == pytest.approx(1.0)
    assert m["total_ratio"] == pytest.approx(9 / 6)


def test_spearman_matches_scipy_with_ties(spark):
    rng = np.random.default_rng(7)
    actual = np.round(rng.exponential(10, 300)) * (rng.random(300) < 0.5)  # many tied zeros
    predicted = actual + rng.normal(0, 8, 300)
    df = frame(spark, actual.tolist(), predicted.tolist())
    assert evaluate(df)["spearman"] == pytest.approx(spearmanr(actual, predicted).statistic, abs=1e-9)


def test_evaluate_returns_every_metric(spark):
    assert tuple(evaluate(frame(spark, ACTUAL, [4.0, 3.0, 2.0, 1.0]))) == METRICS


def test_groups_are_scored_as_if_each_were_alone(spark):
    actual, predicted = tied_sample()
    rows = [("a", float(a), float(p)) for a, p in zip(actual, predicted, strict=True)]
    rows += [("b", float(a), float(-p)) for a, p in zip(actual, predicted, strict=True)]
    stacked = spark.createDataFrame(rows, "method string, label double, prediction double")
    by_method, deciles = evaluate_groups(stacked, "method")
    for method, sign in (("a", 1), ("b", -1)):
        alone = evaluate(frame(spark, actual.tolist(), (sign * predicted).tolist()))
        assert by_method[method] == pytest.approx(alone)
    _, deciles_of_a = evaluate_groups(stacked.where("method = 'a'"), "method")
    assert_df_equality(deciles.where("method = 'a'"), deciles_of_a, ignore_row_order=True)


def tied_sample(size=400, seed=11):
    """Actuals with many tied zeros, predictions rounded to a few dozen values: most scores are ties."""
    rng = np.random.default_rng(seed)
    actual = np.round(rng.exponential(20, size)) * (rng.random(size) < 0.4)
    predicted = np.round(actual / 10 + rng.normal(0, 2, size))
    return actual, predicted


def reference_curve(actual, predicted):
    """score, n, v, cum_n, cum_v by numpy: one step per distinct score, highest first."""
    scores = np.unique(predicted)[::-1]
    n = np.array([np.sum(predicted == s) for s in scores])
    v = np.array([actual[predicted == s].sum() for s in scores])
    return scores, n, v, np.cumsum(n), np.cumsum(v)


@pytest.mark.parametrize(("ranges", "at_least"), [(1, 1), (6, 4), (64, 10)])
def test_gain_curve_over_ranges_equals_the_serial_running_sums(spark, ranges, at_least):
    actual, predicted = tied_sample()
    scores, n, v, cum_n, cum_v = reference_curve(actual, predicted)
    one_group = frame(spark, actual.tolist(), predicted.tolist()).withColumn("g", F.lit(1))
    curve = gain_curves(one_group, "label", "prediction", ["g"], ranges)
    rows = sorted(curve.collect(), key=lambda r: -r["_score"])
    assert [r["_score"] for r in rows] == scores.tolist()
    assert [r["n"] for r in rows] == n.tolist()
    assert [r["cum_n"] for r in rows] == cum_n.tolist()
    assert np.allclose([r["v"] for r in rows], v) and np.allclose([r["cum_v"] for r in rows], cum_v)
    assert {r["total_n"] for r in rows} == {len(actual)}
    assert [r["total_v"] for r in rows] == pytest.approx([actual.sum()] * len(rows))
    assert len({r["_range"] for r in rows}) >= at_least  # the sums did cross range borders


def gini_by_numpy(actual, ordered_by):
    _, n, v, _, cum_v = reference_curve(actual, ordered_by)
    return 2 * np.sum(n / len(actual) * (2 * cum_v - v) / (2 * actual.sum())) - 1


def test_gini_capture_and_deciles_match_numpy_on_tied_scores(spark):
    actual, predicted = tied_sample()
    metrics, deciles = evaluate_groups(
        frame(spark, actual.tolist(), predicted.tolist()).withColumn("g", F.lit(1)), "g"
    )
    normalised = gini_by_numpy(actual, predicted) / gini_by_numpy(actual, actual)
    assert metrics[1]["normalised_gini"] == pytest.approx(normalised, abs=1e-12)
    _, n, v, cum_n, _ = reference_curve(actual, predicted)
    cut, before = 0.1 * len(actual), cum_n - n
    captured = np.where(cum_n <= cut, v, np.where(before < cut, v * (cut - before) / n, 0.0)).sum()
    assert metrics[1]["top_decile_capture"] == pytest.approx(captured / actual.sum(), abs=1e-12)
    step_decile = np.minimum(10, np.floor((cum_n - n / 2) / len(actual) * 10) + 1)
    expected = {int(d): int(n[step_decile == d].sum()) for d in np.unique(step_decile)}
    assert {r["decile"]: r["customers"] for r in deciles.collect()} == expected
