"""Evaluation metrics against hand computations and scipy."""

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from clvlake.modeling.metrics import error_metrics, evaluate, gini, normalised_gini, spearman

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
