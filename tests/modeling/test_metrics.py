"""Evaluation metrics against hand computations and scipy."""

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from clvlake.modeling.metrics import (
    decile_calibration,
    error_metrics,
    evaluate,
    gain_curve,
    gini,
    normalised_gini,
    spearman,
    top_decile_capture,
)

ACTUAL = [10.0, 0.0, 5.0, 0.0]


def frame(spark, actual, predicted):
    return spark.createDataFrame(list(zip(actual, predicted, strict=True)), "label double, prediction double")


def test_normalised_gini_by_hand(spark):
    # gain curve of the order 10, 0, 5, 0 against the perfect order 10, 5, 0, 0: (5/12) / (7/12)
    df = frame(spark, ACTUAL, [4.0, 3.0, 2.0, 1.0])
    assert gini(df, "label", "prediction") == pytest.approx(5 / 12)
    assert normalised_gini(df, "label", "prediction") == pytest.approx(5 / 7)


def test_gini_steps_over_tied_scores_instead_of_ordering_them_by_chance(spark):
    df = frame(spark, ACTUAL, [1.0, 1.0, 0.0, 0.0])
    assert normalised_gini(df, "label", "prediction") == pytest.approx(2 / 7)


def test_perfect_and_reversed_orderings(spark):
    assert normalised_gini(frame(spark, ACTUAL, ACTUAL), "label", "prediction") == pytest.approx(1.0)
    assert normalised_gini(frame(spark, ACTUAL, [-a for a in ACTUAL]), "label", "prediction") < 0


def test_error_metrics_by_hand(spark):
    m = error_metrics(frame(spark, [1.0, 2.0, 3.0], [2.0, 2.0, 5.0]), "label", "prediction")
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 0 + 4) / 3))
    assert m["mae"] == pytest.approx(1.0)
    assert m["total_ratio"] == pytest.approx(9 / 6)


def test_spearman_matches_scipy_with_ties(spark):
    rng = np.random.default_rng(7)
    actual = np.round(rng.exponential(10, 300)) * (rng.random(300) < 0.5)  # many tied zeros
    predicted = actual + rng.normal(0, 8, 300)
    df = frame(spark, actual.tolist(), predicted.tolist())
    assert spearman(df, "label", "prediction") == pytest.approx(
        spearmanr(actual, predicted).statistic, abs=1e-9
    )


def test_evaluate_returns_every_metric(spark):
    assert set(evaluate(frame(spark, ACTUAL, [4.0, 3.0, 2.0, 1.0]))) == {
        "rmse",
        "mae",
        "total_ratio",
        "spearman",
        "normalised_gini",
        "top_decile_capture",
    }


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
    curve, total_n, total_v = gain_curve(
        frame(spark, actual.tolist(), predicted.tolist()), "label", "prediction", ranges
    )
    rows = sorted(curve.collect(), key=lambda r: -r["_score"])
    assert [r["_score"] for r in rows] == scores.tolist()
    assert [r["n"] for r in rows] == n.tolist()
    assert [r["cum_n"] for r in rows] == cum_n.tolist()
    assert np.allclose([r["v"] for r in rows], v) and np.allclose([r["cum_v"] for r in rows], cum_v)
    assert (total_n, total_v) == (len(actual), pytest.approx(actual.sum()))
    assert len({r["_range"] for r in rows}) >= at_least  # the sums did cross range borders


def test_gini_capture_and_deciles_match_numpy_on_tied_scores(spark):
    actual, predicted = tied_sample()
    df = frame(spark, actual.tolist(), predicted.tolist())
    _, n, v, cum_n, cum_v = reference_curve(actual, predicted)
    big_n, big_v = len(actual), actual.sum()
    area = np.sum(n / big_n * (2 * cum_v - v) / (2 * big_v))
    assert gini(df, "label", "prediction") == pytest.approx(2 * area - 1, abs=1e-12)
    cut, before = 0.1 * big_n, cum_n - n
    captured = np.where(cum_n <= cut, v, np.where(before < cut, v * (cut - before) / n, 0.0)).sum()
    assert top_decile_capture(df, "label", "prediction") == pytest.approx(captured / big_v, abs=1e-12)
    step_decile = np.minimum(10, np.floor((cum_n - n / 2) / big_n * 10) + 1)
    expected = {int(d): int(n[step_decile == d].sum()) for d in np.unique(step_decile)}
    assert {r["decile"]: r["customers"] for r in decile_calibration(df).collect()} == expected
