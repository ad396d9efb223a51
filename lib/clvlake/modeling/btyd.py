"""BG/NBD + Gamma-Gamma fitted at scale: Spark collapses customers, scipy fits on the small table, Spark scores.

BG/NBD (Fader, Hardie & Lee 2005) needs each buyer's (x, t_x, T): repeat purchase days, first-to-last purchase
and first purchase-to-snapshot, here in days from `customer_features`. Customers with identical statistics
contribute identical likelihood terms, so Spark groups them into (x, t_x, T, n) rows and the maximum-likelihood
fit runs on that table. To keep it small, t_x and T are rounded to whole `unit_days` (7 = weeks, as lifetimes'
CDNOW example uses); the table then holds at most a few hundred thousand rows whatever the number of customers.
Gamma-Gamma (Fader, Hardie & Lee 2005b) needs (x, mean repeat value) of customers with x > 0 and positive value;
the mean value is rounded to `monetary_digits` significant digits before grouping, for the same reason.

Scoring uses the fitted parameters on every customer's exact statistics, with built-in column functions only:
P(alive), the Gamma-Gamma conditional mean, and the conditional expected number of purchases (whose Gauss
hypergeometric function is summed as a series with `aggregate`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from clvlake.errors import InputError

_MAX_ROWS_TO_FIT = 2_000_000  # the collapsed tables are far smaller; more means the rounding is too fine
_MAX_SERIES_TERMS = 20_000
_DEGENERATE = 1e-6  # parameters beyond [1e-6, 1e6] mean the likelihood has no interior maximum


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float


@dataclass(frozen=True)
class BtydModel:
    """Both fits, with the time unit (days) their rates are expressed in."""

    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams
    unit_days: float

    def as_params(self) -> dict[str, float]:
        """Flat `btyd_*` parameters, as logged to MLflow."""
        return {
            f"btyd_{k}": v
            for part in (self.bgnbd, self.gamma_gamma)
            for k, v in dataclasses.asdict(part).items()
        } | {"btyd_unit_days": self.unit_days}

    @classmethod
    def from_params(cls, params: dict[str, str]) -> BtydModel:
        def value(name: str) -> float:
            return float(params[f"btyd_{name}"])

        return cls(
            BgNbdParams(*(value(n) for n in ("r", "alpha", "a", "b"))),
            GammaGammaParams(*(value(n) for n in ("p", "q", "v"))),
            value("unit_days"),
        )


# ---- collapsing in Spark -------------------------------------------------------------------------------------
def bgnbd_table(features: DataFrame, unit_days: float) -> DataFrame:
    """x, t_x, T, n: buyers grouped by identical statistics, t_x and T in whole `unit_days`."""
    return (
        features.where(F.col("orders_total") > 0)
        .select(
            F.col("bt_frequency").cast("double").alias("x"),
            F.round(F.col("bt_recency_days") / unit_days).alias("t_x"),
            F.round(F.col("bt_tenure_days") / unit_days).alias("T"),
        )
        .groupBy("x", "t_x", "T")
        .agg(F.count(F.lit(1)).alias("n"))
    )


def gamma_gamma_table(features: DataFrame, monetary_digits: int) -> DataFrame:
    """x, m, n: repeat buyers with positive mean repeat value, m rounded to `monetary_digits` significant digits."""
    m = F.col("bt_monetary_value")
    scale = F.pow(F.lit(10.0), F.lit(monetary_digits - 1) - F.floor(F.log10(m)))
    return (
        features.where((F.col("bt_frequency") > 0) & (m > 0))
        .select(F.col("bt_frequency").cast("double").alias("x"), (F.round(m * scale) / scale).alias("m"))
        .groupBy("x", "m")
        .agg(F.count(F.lit(1)).alias("n"))
    )


def collect_table(table: DataFrame, what: str) -> pd.DataFrame:
    """The collapsed table on the driver (bounded by the rounding, not by the number of customers)."""
    # one pass, through Arrow whatever the session's settings; the limit bounds the driver's memory
    rows = table.limit(_MAX_ROWS_TO_FIT + 1).toArrow().to_pandas()
    if len(rows) > _MAX_ROWS_TO_FIT:
        raise InputError(
            f"{what}: more than {_MAX_ROWS_TO_FIT} distinct statistics to fit; use a coarser model.btyd rounding"
        )
    return rows


# ---- maximum likelihood on the small tables -------------------------------------------------------------------
def _per_count(f, x: np.ndarray) -> np.ndarray:
    """f of each row's purchase count x, evaluated once per count 0 … max(x) and looked up (the special functions
    dominate the likelihood's cost, and a table has far fewer distinct counts than rows)."""
    counts = x.astype(np.intp)
    # f may be undefined at count 0 (Gamma-Gamma), where no row of its table is
    with np.errstate(divide="ignore", invalid="ignore"):
        return f(np.arange(counts.max() + 1, dtype=float))[counts]


def bgnbd_log_likelihood(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6) and its gradient in (r, alpha, a, b),
    rows × 4. With L = common + log(e^A + e^B), A the no-dropout and B the dropout term, dL = d common + w_A dA
    + w_B dB where w = e^A / (e^A + e^B) and 1 − w."""
    r, alpha, a, b = params
    common = r * np.log(alpha) + _per_count(
        lambda k: (
            gammaln(r + k) - gammaln(r) + gammaln(a + b) + gammaln(b + k) - gammaln(b) - gammaln(a + b + k)
        ),
        x,
    )
    b_x = np.maximum(b + x - 1, 1e-300)
    no_dropout = -(r + x) * np.log(alpha + T)
    dropout = np.where(x > 0, np.log(a) - np.log(b_x) - (r + x) * np.log(alpha + t_x), -np.inf)
    both = np.logaddexp(no_dropout, dropout)
    w_a, w_b = np.exp(no_dropout - both), np.exp(dropout - both)
    shared = _per_count(lambda k: digamma(a + b) - digamma(a + b + k), x)
    gradient = np.column_stack(
        [
            _per_count(lambda k: digamma(r + k) - digamma(r), x)
            + np.log(alpha)
            - w_a * np.log(alpha + T)
            - w_b * np.log(alpha + t_x),
            r / alpha - (r + x) * (w_a / (alpha + T) + w_b / (alpha + t_x)),
            shared + w_b / a,
            shared + _per_count(lambda k: digamma(b + k) - digamma(b), x) - w_b / b_x,
        ]
    )
    return common + both, gradient


def gamma_gamma_log_likelihood(
    params: np.ndarray, x: np.ndarray, m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row Gamma-Gamma log-likelihood of the mean repeat value m over x purchases, and its gradient in
    (p, q, v), rows × 3."""
    p, q, v = params
    px, log_total = p * x, np.log(x * m + v)
    values = (
        _per_count(lambda k: gammaln(p * k + q) - gammaln(p * k) - gammaln(q) + p * k * np.log(k), x)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        - (px + q) * log_total
    )
    shared = _per_count(lambda k: digamma(p * k + q), x)
    gradient = np.column_stack(
        [
            x * (shared - _per_count(lambda k: digamma(p * k) - np.log(k), x) + np.log(m) - log_total),
            shared - digamma(q) + np.log(v) - log_total,
            q / v - (px + q) / (x * m + v),
        ]
    )
    return values, gradient


def _maximise(log_likelihood, weights: np.ndarray, start: np.ndarray, what: str) -> np.ndarray:
    """Maximum likelihood over log-parameters (positivity): BFGS on the mean log-likelihood weighted by the
    counts, with its analytic gradient (d/d log θ = θ · d/dθ)."""
    total = weights.sum()
    if total == 0:
        raise InputError(f"{what}: no customers to fit")

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        values, gradient = log_likelihood(params)
        # einsum, not BLAS: multi-threaded BLAS reductions stall on a busy driver (10-20x slower measured)
        value = -np.einsum("i,i->", weights, values) / total
        if not np.isfinite(value):
            return 1e100, np.zeros_like(log_params)
        return value, -np.einsum("i,ij->j", weights, gradient) * params / total

    result = minimize(objective, np.log(start), jac=True, method="BFGS", options={"gtol": 1e-9})
    return np.exp(result.x)


def fit_bgnbd(table: pd.DataFrame) -> BgNbdParams:
    """Fit BG/NBD on an (x, t_x, T, n) table."""
    x, t_x, T, n = (table[c].to_numpy(dtype=float) for c in ("x", "t_x", "T", "n"))
    start = np.array([1.0, max(float(np.average(T, weights=n)) / 4, 1.0), 1.0, 1.0])
    params = _maximise(lambda p: bgnbd_log_likelihood(p, x, t_x, T), n, start, "BG/NBD")
    if not np.all((params > _DEGENERATE) & (params < 1 / _DEGENERATE)):
        raise InputError(
            f"BG/NBD fit is degenerate (r, alpha, a, b = {params.tolist()}): the data shows no sign of customers "
            "dropping out; use a longer calibration period"
        )
    return BgNbdParams(*map(float, params))


def fit_gamma_gamma(table: pd.DataFrame) -> GammaGammaParams:
    """Fit Gamma-Gamma on an (x, m, n) table of repeat buyers."""
    x, m, n = (table[c].to_numpy(dtype=float) for c in ("x", "m", "n"))
    start = np.array([1.0, 1.0, max(float(np.average(m, weights=n)), 1.0)])
    params = _maximise(lambda p: gamma_gamma_log_likelihood(p, x, m), n, start, "Gamma-Gamma")
    return GammaGammaParams(*map(float, params))


def fit_btyd(features: DataFrame, unit_days: float, monetary_digits: int) -> BtydModel:
    """Both fits on the customers in `features` (collapsed in Spark, fitted on the driver)."""
    bgnbd = fit_bgnbd(collect_table(bgnbd_table(features, unit_days), "BG/NBD"))
    gamma_gamma = fit_gamma_gamma(collect_table(gamma_gamma_table(features, monetary_digits), "Gamma-Gamma"))
    return BtydModel(bgnbd, gamma_gamma, unit_days)


# ---- scoring in Spark -----------------------------------------------------------------------------------------
def _alive_odds_denominator(params: BgNbdParams, x: Column, t_x: Column, T: Column) -> Column:
    """1 + [x > 0] · a/(b + x − 1) · ((α + T)/(α + t_x))^(r + x)."""
    odds = (params.a / (params.b + x - 1)) * ((params.alpha + T) / (params.alpha + t_x)) ** (params.r + x)
    return 1 + F.when(x > 0, odds).otherwise(0.0)


def _in_units(model: BtydModel) -> tuple[Column, Column, Column]:
    return (
        F.col("bt_frequency").cast("double"),
        F.col("bt_recency_days") / model.unit_days,
        F.col("bt_tenure_days") / model.unit_days,
    )


def p_alive(model: BtydModel) -> Column:
    """BG/NBD probability that a customer is still active at the snapshot (1 for customers who never bought:
    BG/NBD has nothing to say about them, and they have not churned from a purchase relationship)."""
    x, t_x, T = _in_units(model)
    alive = 1 / _alive_odds_denominator(model.bgnbd, x, t_x, T)
    return F.when(F.col("orders_total") > 0, alive).otherwise(F.lit(1.0))


def _series_terms(params: BgNbdParams, t: float) -> int:
    """Terms for the ₂F₁ series to converge to ~1e-13 at the largest z = t / (α + t) (a customer with T = 0)."""
    z_max = t / (params.alpha + t)
    return int(min(_MAX_SERIES_TERMS, math.ceil(30 / -math.log(z_max)) + 50))


def expected_orders(model: BtydModel, horizon_days: int) -> Column:
    """E[purchases in the next `horizon_days` | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10); 0 for customers
    who never bought.

    With Euler's transformation ₂F₁(r+x, b+x; c; z) = (1−z)^(c−r−b−2x) ₂F₁(a+b−1−r, a−1; c; z), c = a+b+x−1,
    and (α+T)/(α+T+t) = 1−z, the hypergeometric term becomes (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; c; z): a series
    whose first parameters do not grow with x, summed with Spark's `aggregate` (no Python worker needed).
    """
    p, t = model.bgnbd, horizon_days / model.unit_days
    x, t_x, T = _in_units(model)
    z = F.lit(t) / (F.lit(p.alpha + t) + T)
    c = x + (p.a + p.b - 1)
    first, second = p.a + p.b - 1 - p.r, p.a - 1

    def step(acc: Column, k: Column) -> Column:
        term = acc["term"] * (k + first) * (k + second) / ((c + k) * (k + 1)) * z
        return F.struct(term.alias("term"), (acc["total"] + term).alias("total"))

    series = F.aggregate(
        F.sequence(F.lit(0), F.lit(_series_terms(p, t) - 1)),
        F.struct(F.lit(1.0).alias("term"), F.lit(1.0).alias("total")),
        step,
        lambda acc: acc["total"],
    )
    purchases = (c / (p.a - 1)) * (1 - F.pow(1 - z, F.lit(p.a - 1)) * series)
    expected = purchases / _alive_odds_denominator(p, x, t_x, T)
    return F.when(F.col("orders_total") > 0, expected).otherwise(F.lit(0.0))


def expected_order_value(params: GammaGammaParams) -> Column:
    """Gamma-Gamma conditional mean value per purchase; the population mean for customers without repeats."""
    x, m = F.col("bt_frequency").cast("double"), F.col("bt_monetary_value")
    population = params.p * params.v / (params.q - 1)
    weight = params.p * x / (params.p * x + params.q - 1)
    return F.when((x > 0) & (m > 0), (1 - weight) * population + weight * m).otherwise(F.lit(population))


def with_btyd(features: DataFrame, model: BtydModel, horizon_days: int) -> DataFrame:
    """Adds p_alive, expected_orders and btyd_clv (expected orders × expected value per order)."""
    return features.withColumns(
        {"p_alive": p_alive(model), "expected_orders": expected_orders(model, horizon_days)}
    ).withColumn("btyd_clv", F.col("expected_orders") * expected_order_value(model.gamma_gamma))
