"""The blend of the regressor with BG/NBD + Gamma-Gamma: the model's last stage (`model.btyd.blend`).

The trees rank customers better than the BTYD model, but a few heavy spenders decide a squared error, and there
the two err differently: a weighted mean of both predictions can be closer to the actual values than either. The
BTYD value is first scaled to the trees' total (BG/NBD often under-predicts it), then one weight w of the
regressor (1 − w of the scaled BTYD value) is fitted by least squares on the conformal calibration customers: they
are kept out of the trees' fit, so the trees' errors there are those of new customers (on the training rows the
trees' in-sample fit would take all the weight).
"""

from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clvlake.schemas import BTYD_VALUE


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

    @property
    def scale(self) -> float:
        return self.getOrDefault(self.btyd_scale)

    def as_params(self) -> dict[str, float]:
        """The stage's numbers as MLflow run parameters."""
        return {"blend_regressor_weight": self.weight, "blend_btyd_scale": self.scale}

    def blended(self, regressor: Column, btyd: Column) -> Column:
        scaled = F.coalesce(btyd * F.lit(self.scale), regressor)
        return F.lit(self.weight) * regressor + F.lit(1.0 - self.weight) * scaled

    def _transform(self, df: DataFrame) -> DataFrame:
        return df.withColumn("raw_prediction", self.blended(F.col("raw_prediction"), F.col(BTYD_VALUE)))


def fit_blend(df: DataFrame, actual: str = "label", predicted: str = "prediction") -> BtydBlendModel:
    """From calibration rows with the label y, the regressor's prediction p and `btyd_value` b: k = Σp ÷ Σb over
    the rows with b, q = k·b (p where b is null), and the weight w in [0, 1] minimising Σ(y − q − w (p − q))²:
    Σ(y − q)(p − q) ÷ Σ(p − q)², clipped; 1 when the two never differ. The rows without b add nothing to either
    sum (p − q = 0 there), so both come from sums over the rows with b, in one aggregation."""
    y, p, b = F.col(actual), F.col(predicted), F.col(BTYD_VALUE)
    products = {"p": p, "b": b, "yp": y * p, "yb": y * b, "pb": p * b, "pp": p * p, "bb": b * b}
    row = df.where(b.isNotNull()).agg(*[F.sum(v).alias(k) for k, v in products.items()]).first()
    sums = {k: float(row[k] or 0.0) for k in products}
    scale = sums["p"] / sums["b"] if sums["p"] > 0 and sums["b"] > 0 else 1.0
    cross = sums["yp"] - scale * sums["yb"] - scale * sums["pb"] + scale * scale * sums["bb"]
    spread = sums["pp"] - 2 * scale * sums["pb"] + scale * scale * sums["bb"]
    weight = min(max(cross / spread, 0.0), 1.0) if spread > 1e-12 * max(sums["pp"], 1.0) else 1.0
    return BtydBlendModel(regressor_weight=weight, btyd_scale=scale)
