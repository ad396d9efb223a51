"""The blend of the regressor with BG/NBD + Gamma-Gamma: the model's last stage (`model.btyd.blend`).

The trees rank customers better than the BTYD model, but a few heavy spenders decide a squared error, and there
the two err differently: a weighted mean of both predictions can be closer to the actual values than either. One
weight w of the regressor (1 − w of BG/NBD + Gamma-Gamma) is fitted by least squares on the conformal calibration
customers: they are kept out of the trees' fit, so the trees' errors there are those of new customers (on the
training rows the trees' in-sample fit would take all the weight).
"""

from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

BTYD_VALUE = "btyd_value"  # BG/NBD + Gamma-Gamma's value over the horizon (schemas.BTYD_FEATURES)


class BtydBlendModel(Model, DefaultParamsReadable, DefaultParamsWritable):
    """`raw_prediction` = w × `raw_prediction` + (1 − w) × k × `btyd_value`: w the regressor's weight, k the scale
    that brings BG/NBD + Gamma-Gamma to the regressor's total; a customer without a BTYD value keeps the
    regressor's value."""

    regressor_weight = Param(
        Params._dummy(), "regressor_weight", "weight of the regressor", typeConverter=TypeConverters.toFloat
    )
    btyd_scale = Param(
        Params._dummy(), "btyd_scale", "factor of the BTYD value", typeConverter=TypeConverters.toFloat
    )

    @keyword_only
    def __init__(self, regressor_weight: float = 1.0, btyd_scale: float = 1.0):
        super().__init__()
        self._set(**self._input_kwargs)

    @property
    def weight(self) -> float:
        return self.getOrDefault(self.regressor_weight)

    def blended(self, regressor: Column, btyd: Column) -> Column:
        scaled = F.coalesce(btyd * F.lit(self.getOrDefault(self.btyd_scale)), regressor)
        return F.lit(self.weight) * regressor + F.lit(1.0 - self.weight) * scaled

    def _transform(self, df: DataFrame) -> DataFrame:
        return df.withColumn("raw_prediction", self.blended(F.col("raw_prediction"), F.col(BTYD_VALUE)))


def fit_blend(df: DataFrame, actual: str = "label", predicted: str = "prediction") -> BtydBlendModel:
    """From calibration rows with the label y, the regressor's prediction p and `btyd_value`: k = Σp ÷ Σ btyd over
    the rows with both, q = k × btyd (p where null), and the weight w in [0, 1] minimising Σ(y − q − w (p − q))²:
    Σ(y − q)(p − q) ÷ Σ(p − q)², clipped; 1 when the two never differ."""
    y, p, btyd = F.col(actual), F.col(predicted), F.col(BTYD_VALUE)
    totals = df.where(btyd.isNotNull()).agg(F.sum(p).alias("p"), F.sum(btyd).alias("btyd")).first()
    scale = float(totals["p"] / totals["btyd"]) if totals["p"] and totals["btyd"] else 1.0
    gap = p - F.coalesce(btyd * F.lit(scale), p)
    row = df.agg(F.sum((y - p + gap) * gap).alias("cross"), F.sum(gap * gap).alias("spread")).first()
    cross, spread = float(row["cross"] or 0.0), float(row["spread"] or 0.0)
    weight = min(max(cross / spread, 0.0), 1.0) if spread > 0 else 1.0
    return BtydBlendModel(regressor_weight=weight, btyd_scale=scale)
