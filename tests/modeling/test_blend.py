"""The blend of the regressor with BG/NBD + Gamma-Gamma (`modeling/blend.py`)."""

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.ml import PipelineModel
from pyspark.sql import types as T

from clvlake.modeling.blend import BtydBlendModel, fit_blend

ROWS = T.StructType(
    [
        T.StructField("label", T.DoubleType()),
        T.StructField("prediction", T.DoubleType()),
        T.StructField("btyd_value", T.DoubleType()),
    ]
)


def test_btyd_is_scaled_to_the_regressors_total_and_mixed_by_least_squares_checked_against_numpy(spark):
    rng = np.random.default_rng(7)
    truth = rng.gamma(0.5, 100.0, 400)
    regressor = truth + rng.normal(0, 60, 400)
    btyd = 0.8 * truth + rng.normal(0, 90, 400)  # low in total, as BG/NBD often is
    rows = [(float(y), float(p), float(q)) for y, p, q in zip(truth, regressor, btyd, strict=True)]
    blend = fit_blend(spark.createDataFrame(rows, ROWS))
    scale = regressor.sum() / btyd.sum()
    # least squares of y − q on p − q, q the scaled BTYD value, by numpy
    weight = np.linalg.lstsq((regressor - scale * btyd)[:, None], truth - scale * btyd, rcond=None)[0][0]
    assert 0 < weight < 1
    assert blend.scale == pytest.approx(scale, rel=1e-9)
    assert blend.weight == pytest.approx(weight, rel=1e-9)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # (label, regressor, BTYD) with the same totals of both predictions, so the BTYD scale is 1
        # BG/NBD is exactly right: all of the weight on it
        ([(10.0, 4.0, 10.0), (0.0, 6.0, 0.0)], 0.0),
        # least squares would go past the regressor (1.5): clipped at 1
        ([(12.0, 10.0, 6.0), (0.0, 2.0, 6.0)], 1.0),
        # … or past BG/NBD (−1): clipped at 0
        ([(0.0, 10.0, 6.0), (8.0, 2.0, 6.0)], 0.0),
        # no BTYD value anywhere: nothing to blend with, the regressor stands
        ([(10.0, 3.0, None), (0.0, 1.0, None)], 1.0),
    ],
)
def test_the_weight_stays_in_zero_to_one(spark, rows, expected):
    assert fit_blend(spark.createDataFrame(rows, ROWS)).weight == pytest.approx(expected)


def test_the_blend_stage_mixes_the_predictions_keeps_the_regressor_without_btyd_and_round_trips(
    spark, tmp_path
):
    schema = T.StructType(
        [T.StructField("raw_prediction", T.DoubleType()), T.StructField("btyd_value", T.DoubleType())]
    )
    scored = spark.createDataFrame([(100.0, 20.0), (8.0, None)], schema)
    stage = BtydBlendModel(regressor_weight=0.25, btyd_scale=2.0)
    PipelineModel(stages=[stage]).write().save(str(tmp_path / "model"))
    blended = PipelineModel.load(str(tmp_path / "model")).transform(scored)
    expected = spark.createDataFrame([(0.25 * 100.0 + 0.75 * 2.0 * 20.0, 20.0), (8.0, None)], schema)
    assert_df_equality(blended, expected, ignore_row_order=True)
