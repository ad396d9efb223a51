"""Split-conformal intervals for the CLV prediction.

The conformity score of a calibration customer (held out from the fit) is the absolute error scaled by the
prediction plus a constant, |y − ŷ| / (ŷ + s), with s the mean prediction on the calibration rows: intervals
widen with the prediction, and customers predicted at zero still get a non-empty one. The interval is
ŷ ± q (ŷ + s), floored at zero, where q is the ⌈(n + 1) level⌉ / n quantile of the calibration scores; for
customers exchangeable with the calibration ones it covers the actual value with probability ≥ level. A negative
actual value (refunds in the horizon beyond its purchases) lies below every interval, since the floor is zero: its
score is +∞, so the quantile counts such customers as the misses they are (scored by |y − ŷ| alone, a refund of
a few euros looked covered in calibration and the interval fell short of its level wherever refunds are common).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

log = logging.getLogger(__name__)
_RELATIVE_ERROR = 1e-4


@dataclass(frozen=True)
class Conformal:
    level: float
    quantile: float  # q
    scale: float  # s

    def half_width(self, predicted: Column) -> Column:
        return F.lit(self.quantile) * (predicted + F.lit(self.scale))

    def lower(self, predicted: Column) -> Column:
        return F.greatest(predicted - self.half_width(predicted), F.lit(0.0))

    def upper(self, predicted: Column) -> Column:
        return predicted + self.half_width(predicted)


def calibrate(
    rows: DataFrame, level: float, actual: str = "label", predicted: str = "prediction"
) -> Conformal:
    """q and s from calibration rows (customers not used to fit the model), in two aggregations: pass rows that
    are cheap to read twice (predictions computed once: the model runs in Python workers)."""
    y, p = F.col(actual), F.col(predicted)
    stats = rows.agg(F.count(F.lit(1)).alias("n"), F.avg(p).alias("s")).first()
    n, scale = int(stats["n"]), float(stats["s"] or 0.0) or 1.0
    error = F.abs(y - p) / (p + F.lit(scale))
    scores = rows.select(F.when(y >= 0, error).otherwise(F.lit(math.inf)).alias("score"))
    rank = min(1.0, math.ceil((n + 1) * level) / n)
    (quantile,) = scores.approxQuantile("score", [rank], _RELATIVE_ERROR)
    if math.isinf(quantile):
        log.warning(
            "too many of the %d calibration customers are worth less than nothing (refunds beyond purchases) for "
            "an interval floored at zero to reach the level %.2f: clv_upper is unbounded",
            n,
            level,
        )
    return Conformal(level, float(quantile), scale)


def coverage(
    df: DataFrame, actual: str = "label", lower: str = "clv_lower", upper: str = "clv_upper"
) -> float:
    """Share of rows whose actual value lies in [lower, upper]."""
    inside = (F.col(actual) >= F.col(lower)) & (F.col(actual) <= F.col(upper))
    return float(df.agg(F.avg(inside.cast("double"))).first()[0])
