"""BG/NBD + Gamma-Gamma fitted at scale: Spark collapses customers, scipy fits on the small table, Spark scores.

BG/NBD (Fader, Hardie & Lee 2005) needs each buyer's (x, t_x, T): repeat purchase days, first-to-last purchase
and first purchase-to-snapshot, here in days from `customer_features`. Customers with identical statistics
contribute identical likelihood terms, so Spark groups them into (x, t_x, T, n) rows and the maximum-likelihood
fit runs on that table. To keep it small, t_x and T are rounded to whole `unit_days` (7 = weeks, as lifetimes'
CDNOW example uses); the table then holds at most a few hundred thousand rows whatever the number of customers.
Gamma-Gamma (Fader, Hardie & Lee 2005b) needs (x, mean repeat value) of customers with x > 0 and positive value;
the mean value is rounded to `monetary_digits` significant digits before grouping, for the same reason.

Scoring uses the fitted parameters on every customer's exact statistics: P(alive) and the Gamma-Gamma
conditional mean with built-in column functions, the conditional expected number of purchases with scipy's Gauss
hypergeometric function over Arrow batches (a Pandas UDF: its series summed per row with Spark's `aggregate` was
16× slower on 200,000 customers × 3 horizons, 27.3 against 1.7 s warm side by side, for the same values to 1e-13;
it made most of `clv score`'s time at a million customers).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

from clvlake.config import BtydSettings
from clvlake.errors import DegenerateFitError, InputError
from clvlake.schemas import BTYD_FEATURES, BTYD_VALUE

log = logging.getLogger(__name__)
_MAX_ROWS_TO_FIT = 2_000_000  # the collapsed tables are far smaller; more means the rounding is too fine
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
class ParetoNbdParams:
    r: float
    alpha: float
    s: float
    beta: float


@dataclass(frozen=True)
class MbgNbdParams:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class BtydModel:
    """BG/NBD + Gamma-Gamma, with the time unit (days) their rates are expressed in; Pareto/NBD and MBG/NBD fitted
    on the same statistics where their fit is not degenerate (baselines of the backtest; scores use BG/NBD)."""

    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams
    unit_days: float
    pareto_nbd: ParetoNbdParams | None = None
    mbgnbd: MbgNbdParams | None = None

    def as_params(self) -> dict[str, float]:
        """Flat `btyd_*` parameters (what scoring reads back) and `pareto_nbd_*`, `mbgnbd_*`, as logged to MLflow."""
        family = {"pareto_nbd": self.pareto_nbd, "mbgnbd": self.mbgnbd}
        return (
            {
                f"btyd_{k}": v
                for part in (self.bgnbd, self.gamma_gamma)
                for k, v in dataclasses.asdict(part).items()
            }
            | {"btyd_unit_days": self.unit_days}
            | {
                f"{name}_{k}": v
                for name, part in family.items()
                if part is not None
                for k, v in dataclasses.asdict(part).items()
            }
        )

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
_BGNBD_KEYS, _GAMMA_GAMMA_KEYS = ["x", "t_x", "T"], ["x", "m"]


def btyd_statistics(features: DataFrame, unit_days: float, monetary_digits: int) -> DataFrame:
    """x, t_x, T (in whole `unit_days`) of every buyer, and m, the mean repeat value rounded to `monetary_digits`
    significant digits, of repeat buyers with a positive one (null for the others).

    Rounding is `rint` (to the nearest, ties to even), not `round`: Spark's round goes through BigDecimal, which
    made it the largest cost of the collapse (1.5M customers: 1.0 s against 0.65 s).
    """
    m = F.col("bt_monetary_value")
    scale = F.pow(F.lit(10.0), F.lit(monetary_digits - 1) - F.floor(F.log10(m)))
    return features.where(F.col("orders_total") > 0).select(
        F.col("bt_frequency").cast("double").alias("x"),
        F.rint(F.col("bt_recency_days") / unit_days).alias("t_x"),
        F.rint(F.col("bt_tenure_days") / unit_days).alias("T"),
        F.when((F.col("bt_frequency") > 0) & (m > 0), F.rint(m * scale) / scale).alias("m"),
    )


def collapsed_tables(features: DataFrame, unit_days: float, monetary_digits: int) -> DataFrame:
    """Both collapsed tables in one aggregation (grouping sets: one scan of `features`): `table` is "bgnbd" for
    the (x, t_x, T, n) rows of all buyers and "gamma_gamma" for the (x, m, n) rows of repeat buyers with a positive
    mean value; n counts the customers with those statistics."""
    grouped = btyd_statistics(features, unit_days, monetary_digits).groupingSets(
        [_BGNBD_KEYS, _GAMMA_GAMMA_KEYS], "x", "t_x", "T", "m"
    )
    table = F.when(F.grouping("m") == 1, F.lit("bgnbd")).otherwise(F.lit("gamma_gamma"))
    return (
        grouped.agg(F.count(F.lit(1)).alias("n"), table.alias("table"))
        .where((F.col("table") == "bgnbd") | F.col("m").isNotNull())
        .select("table", "x", "t_x", "T", "m", "n")
    )


def collect_tables(
    features: DataFrame, unit_days: float, monetary_digits: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The BG/NBD and Gamma-Gamma tables on the driver, from one Spark job and one Arrow transfer.

    Their size is bounded by the rounding, not by the number of customers; Spark's `spark.driver.maxResultSize`
    stops a pathological one before it reaches the driver. No `limit` here: a CollectLimit brings the rows
    through the driver's JVM row by row, 5× slower than the collect itself (measured on 1.5M customers).
    """
    rows = collapsed_tables(features, unit_days, monetary_digits).toArrow().to_pandas()
    if len(rows) > _MAX_ROWS_TO_FIT:
        raise InputError(
            f"BG/NBD + Gamma-Gamma: {len(rows):,} distinct statistics to fit (more than {_MAX_ROWS_TO_FIT:,}); "
            "use a coarser model.btyd rounding (unit_days, monetary_digits)"
        )
    bgnbd = rows[rows["table"] == "bgnbd"]
    gamma_gamma = rows[rows["table"] == "gamma_gamma"]
    return (
        bgnbd[[*_BGNBD_KEYS, "n"]].reset_index(drop=True),
        gamma_gamma[[*_GAMMA_GAMMA_KEYS, "n"]].reset_index(drop=True),
    )


# ---- maximum likelihood on the small tables -------------------------------------------------------------------
def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum, not BLAS: multi-threaded BLAS reductions stall on a busy driver (10-20x slower measured)
    return float(np.einsum("i,i->", a, b))


@dataclass(frozen=True)
class BgNbdData:
    """A collapsed (x, t_x, T, n) table arranged for the likelihood: everything that does not depend on the
    parameters is summed once, so an evaluation costs a few passes over the repeat buyers' rows.

    Terms that depend on one statistic only are summed per distinct purchase count (`count_weight`) or per
    distinct T (`tenure_values`, `tenure_weight`, `tenure_purchases`); only the dropout term couples x, t_x and T
    and is computed per row of repeat buyers (`repeat_*`, with indices into the distinct T and t_x values).
    """

    customers: float
    count_weight: np.ndarray  # customers per purchase count 0 … max(x)
    tenure_values: np.ndarray
    tenure_weight: np.ndarray  # customers per distinct T
    tenure_purchases: np.ndarray  # Σ n·x per distinct T
    recency_values: np.ndarray
    repeat_x: np.ndarray
    repeat_n: np.ndarray
    repeat_count: np.ndarray  # x as an index into per-count arrays
    repeat_tenure: np.ndarray  # index into tenure_values
    repeat_recency: np.ndarray  # index into recency_values

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> BgNbdData:
        x, t_x, T, n = (table[c].to_numpy(dtype=float) for c in ("x", "t_x", "T", "n"))
        counts = x.astype(np.intp)
        tenure_values, tenure_index = np.unique(T, return_inverse=True)
        repeat = x > 0
        recency_values, recency_index = np.unique(t_x[repeat], return_inverse=True)
        return cls(
            customers=float(n.sum()),
            count_weight=np.bincount(counts, weights=n),
            tenure_values=tenure_values,
            tenure_weight=np.bincount(tenure_index, weights=n),
            tenure_purchases=np.bincount(tenure_index, weights=n * x),
            recency_values=recency_values,
            repeat_x=x[repeat],
            repeat_n=n[repeat],
            repeat_count=counts[repeat],
            repeat_tenure=tenure_index[repeat],
            repeat_recency=recency_index,
        )


def bgnbd_log_likelihood(params: np.ndarray, data: BgNbdData) -> tuple[float, np.ndarray]:
    """The BG/NBD log-likelihood of all customers (Fader, Hardie & Lee 2005, eq. 6) and its gradient in
    (r, alpha, a, b).

    Per customer, L = c(x) + r·log α − (r + x)·log(α + T) + softplus(z), with c the Gamma-function terms and, for
    x > 0, z = log a − log(b + x − 1) + (r + x)·(log(α + T) − log(α + t_x)) the log-odds of having dropped out
    (for x = 0 the last term is 0). d softplus(z) = w·dz with w = sigmoid(z).
    """
    r, alpha, a, b = params
    k = np.arange(len(data.count_weight), dtype=float)
    weight = data.count_weight
    log_tenure = np.log(alpha + data.tenure_values)
    tenure_terms = r * data.tenure_weight + data.tenure_purchases  # Σ n (r + x) per distinct T

    x, n = data.repeat_x, data.repeat_n
    log_t = log_tenure[data.repeat_tenure]
    log_dz = log_t - np.log(alpha + data.recency_values)[data.repeat_recency]
    log_b = np.log(np.maximum(b + k - 1, 1e-300))
    z = np.log(a) - log_b[data.repeat_count] + (r + x) * log_dz
    w = n * expit(z)  # n·sigmoid(z): the customers' weight on the dropout branch

    common = gammaln(r + k) - gammaln(r) + gammaln(a + b) + gammaln(b + k) - gammaln(b) - gammaln(a + b + k)
    value = (
        _dot(weight, common)
        + data.customers * r * np.log(alpha)
        - _dot(tenure_terms, log_tenure)
        + _dot(n, np.logaddexp(0.0, z))
    )
    inv_t = 1 / (alpha + data.tenure_values)
    dz_alpha = inv_t[data.repeat_tenure] - 1 / (alpha + data.recency_values)[data.repeat_recency]
    shared = _dot(weight, digamma(a + b) - digamma(a + b + k))
    dropout_by_count = np.bincount(data.repeat_count, weights=w, minlength=len(k))
    gradient = np.array(
        [
            _dot(weight, digamma(r + k) - digamma(r))
            + data.customers * np.log(alpha)
            - _dot(data.tenure_weight, log_tenure)
            + _dot(w, log_dz),
            data.customers * r / alpha - _dot(tenure_terms, inv_t) + _dot(w * (r + x), dz_alpha),
            shared + w.sum() / a,
            shared + _dot(weight, digamma(b + k) - digamma(b)) - _dot(dropout_by_count, np.exp(-log_b)),
        ]
    )
    return value, gradient


@dataclass(frozen=True)
class GammaGammaData:
    """A collapsed (x, m, n) table of repeat buyers arranged for the likelihood: per-count sums and the
    parameter-free sums of log m; only log(x·m + v) is computed per row."""

    customers: float
    count_weight: np.ndarray  # customers per purchase count 0 … max(x) (none at 0)
    spend: np.ndarray  # x·m per row
    n: np.ndarray
    nx: np.ndarray  # n·x per row
    sum_n_log_m: float
    sum_nx_log_m: float

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> GammaGammaData:
        x, m, n = (table[c].to_numpy(dtype=float) for c in ("x", "m", "n"))
        log_m = np.log(m)
        return cls(
            customers=float(n.sum()),
            count_weight=np.bincount(x.astype(np.intp), weights=n),
            spend=x * m,
            n=n,
            nx=n * x,
            sum_n_log_m=_dot(n, log_m),
            sum_nx_log_m=_dot(n * x, log_m),
        )


def gamma_gamma_log_likelihood(params: np.ndarray, data: GammaGammaData) -> tuple[float, np.ndarray]:
    """The Gamma-Gamma log-likelihood of all repeat buyers' mean values m over x purchases (Fader, Hardie & Lee
    2005b) and its gradient in (p, q, v). Per customer, L = log Γ(px + q) − log Γ(px) − log Γ(q) + px·log x
    + q·log v + (px − 1)·log m − (px + q)·log(x·m + v)."""
    p, q, v = params
    k = np.arange(1, len(data.count_weight), dtype=float)  # counts from 1: no repeat buyer has x = 0
    weight = data.count_weight[1:]
    log_total = np.log(data.spend + v)
    n_log_total, nx_log_total = _dot(data.n, log_total), _dot(data.nx, log_total)
    value = (
        _dot(weight, gammaln(p * k + q) - gammaln(p * k) + p * k * np.log(k))
        - data.customers * (gammaln(q) - q * np.log(v))
        + p * data.sum_nx_log_m
        - data.sum_n_log_m
        - p * nx_log_total
        - q * n_log_total
    )
    inverse_total = 1 / (data.spend + v)
    shared = digamma(p * k + q)
    gradient = np.array(
        [
            _dot(weight, k * (shared - digamma(p * k) + np.log(k))) + data.sum_nx_log_m - nx_log_total,
            _dot(weight, shared) - data.customers * (digamma(q) - np.log(v)) - n_log_total,
            data.customers * q / v - p * _dot(data.nx, inverse_total) - q * _dot(data.n, inverse_total),
        ]
    )
    return value, gradient


def _maximise(
    log_likelihood, customers: float, start: np.ndarray, what: str, gradient: bool = True
) -> np.ndarray:
    """Maximum likelihood over log-parameters (positivity): BFGS on the mean log-likelihood, with its analytic
    gradient (d/d log θ = θ · d/dθ) where `log_likelihood` returns (value, gradient), else L-BFGS-B by finite
    differences of a log-likelihood that returns the value only (a quarter to a third of BFGS's evaluations,
    which matters for Pareto/NBD: where its dropout rates are large, scipy's hyp2f1 takes ~30 µs a row, and its
    likelihood is flat along s/β there, so fits that differ in s and β both predict alike)."""
    if customers == 0:
        raise DegenerateFitError(f"{what}: no customers to fit")

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        value, slope = log_likelihood(params)
        if not np.isfinite(value):
            return 1e100, np.zeros_like(log_params)
        return -value / customers, -slope * params / customers

    def value_only(log_params: np.ndarray) -> float:
        value = log_likelihood(np.exp(log_params))
        return -value / customers if np.isfinite(value) else 1e100

    if gradient:
        result = minimize(objective, np.log(start), jac=True, method="BFGS", options={"gtol": 1e-9})
    else:
        result = minimize(value_only, np.log(start), method="L-BFGS-B")
    return np.exp(result.x)


def fit_bgnbd(table: pd.DataFrame) -> BgNbdParams:
    """Fit BG/NBD on an (x, t_x, T, n) table."""
    data = BgNbdData.from_table(table)
    mean_tenure = _dot(data.tenure_weight, data.tenure_values) / max(data.customers, 1.0)
    start = np.array([1.0, max(mean_tenure / 4, 1.0), 1.0, 1.0])
    params = _maximise(lambda p: bgnbd_log_likelihood(p, data), data.customers, start, "BG/NBD")
    if not np.all((params > _DEGENERATE) & (params < 1 / _DEGENERATE)):
        raise DegenerateFitError(
            f"BG/NBD fit is degenerate (r, alpha, a, b = {params.tolist()}): the data shows no sign of customers "
            "dropping out; a longer calibration period usually shows it"
        )
    return BgNbdParams(*map(float, params))


def fit_gamma_gamma(table: pd.DataFrame) -> GammaGammaParams:
    """Fit Gamma-Gamma on an (x, m, n) table of repeat buyers."""
    data = GammaGammaData.from_table(table)
    mean_value = float(np.average(table["m"], weights=table["n"])) if data.customers else 1.0
    start = np.array([1.0, 1.0, max(mean_value, 1.0)])
    params = _maximise(lambda p: gamma_gamma_log_likelihood(p, data), data.customers, start, "Gamma-Gamma")
    return GammaGammaParams(*map(float, params))


# ---- the rest of the family on the same (x, t_x, T, n) table: Pareto/NBD and MBG/NBD ---------------------------
def _columns(table: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(table[c].to_numpy(dtype=float) for c in ("x", "t_x", "T", "n"))


def pareto_nbd_log_a0(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """log A₀ of the Pareto/NBD likelihood (Fader, Hardie & Lee 2005, "A Note on Deriving the Pareto/NBD Model",
    eqs. 19–20): ₂F₁(r+s+x, ·; r+s+x+1; |α−β| / (max(α,β) + t)) / (max(α,β) + t)^(r+s+x), at t = t_x minus at T."""
    r, alpha, s, beta = params
    high, second = (beta, r + x) if alpha < beta else (alpha, s + 1)
    gap, rsx = abs(alpha - beta), r + s + x
    at_recency = np.log(hyp2f1(rsx, second, rsx + 1, gap / (high + t_x))) - rsx * np.log(high + t_x)
    at_tenure = np.log(hyp2f1(rsx, second, rsx + 1, gap / (high + T))) - rsx * np.log(high + T)
    # log(e^u − e^v) with u ≥ v (A₀ > 0: t_x ≤ T); equal where the customer bought at the snapshot
    return at_recency + np.log(-np.expm1(np.minimum(at_tenure - at_recency, -1e-300)))


def pareto_nbd_customer_log_likelihood(params: np.ndarray, x, t_x, T) -> np.ndarray:
    """Each customer's Pareto/NBD log-likelihood (same note, eq. 18)."""
    r, alpha, s, beta = params
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dropped = np.log(s) - np.log(r + s + x) + pareto_nbd_log_a0(params, x, t_x, T)
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + np.logaddexp(alive, dropped)


def mbgnbd_customer_log_likelihood(params: np.ndarray, x, t_x, T) -> np.ndarray:
    """Each customer's MBG/NBD log-likelihood (Batislam, Denizel & Filiztekin 2007): BG/NBD where a customer may
    also drop out right after the first purchase, so the dropout branch holds for x = 0 too."""
    r, alpha, a, b = params
    dropout = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x + 1)
        - gammaln(b)
        - gammaln(a + b + x + 1)
        - (r + x) * np.log(alpha + T)
        + np.logaddexp(0.0, dropout)
    )


def _fit_counts(customer_log_likelihood, table: pd.DataFrame, start: np.ndarray, what: str) -> np.ndarray:
    """Maximum likelihood of a count model on an (x, t_x, T, n) table (rows weighted by n)."""
    x, t_x, T, n = _columns(table)

    def log_likelihood(params: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            return _dot(n, customer_log_likelihood(params, x, t_x, T))

    params = _maximise(log_likelihood, float(n.sum()), start, what, gradient=False)
    if not np.all((params > _DEGENERATE) & (params < 1 / _DEGENERATE)):
        raise DegenerateFitError(f"{what} fit is degenerate ({params.tolist()}): the data shows no dropout")
    return params


def _count_start(table: pd.DataFrame) -> float:
    """A starting rate scale: a quarter of the mean tenure."""
    return max(float(np.average(table["T"], weights=table["n"])) / 4, 1.0)


def fit_pareto_nbd(table: pd.DataFrame) -> ParetoNbdParams:
    """Fit Pareto/NBD on an (x, t_x, T, n) table."""
    scale = _count_start(table)
    start = np.array([1.0, scale, 1.0, scale])
    return ParetoNbdParams(
        *map(float, _fit_counts(pareto_nbd_customer_log_likelihood, table, start, "Pareto/NBD"))
    )


def fit_mbgnbd(table: pd.DataFrame) -> MbgNbdParams:
    """Fit MBG/NBD on an (x, t_x, T, n) table."""
    start = np.array([1.0, _count_start(table), 1.0, 1.0])
    return MbgNbdParams(*map(float, _fit_counts(mbgnbd_customer_log_likelihood, table, start, "MBG/NBD")))


def _unless_degenerate(fit, table: pd.DataFrame):
    """`fit(table)`, or None (with a warning) where the model's likelihood has no interior maximum."""
    try:
        return fit(table)
    except DegenerateFitError as err:
        log.warning("%s: left out of the baselines", err)
        return None


def fit_btyd(features: DataFrame, unit_days: float, monetary_digits: int) -> BtydModel:
    """Every fit on the customers in `features` (collapsed in Spark once, fitted on the driver)."""
    bgnbd, gamma_gamma = collect_tables(features, unit_days, monetary_digits)
    return BtydModel(
        fit_bgnbd(bgnbd),
        fit_gamma_gamma(gamma_gamma),
        unit_days,
        _unless_degenerate(fit_pareto_nbd, bgnbd),
        _unless_degenerate(fit_mbgnbd, bgnbd),
    )


def fit_btyd_or_none(features: DataFrame, settings: BtydSettings, what: str) -> BtydModel | None:
    """`fit_btyd` with the configured rounding, or None (with a warning) when the data allows no fit (no buyers,
    or no dropout): a short history must not stop training, it only loses the BTYD baselines and inputs."""
    try:
        return fit_btyd(features, settings.unit_days, settings.monetary_digits)
    except DegenerateFitError as err:
        log.warning("%s: BG/NBD + Gamma-Gamma is left out (baselines and regressor inputs): %s", what, err)
        return None


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


def _euler_purchases(first: float, second: float, c: Column, z: Column) -> Column:
    """c / (a − 1) · (1 − (1 − z)^(a − 1) · ₂F₁(first, a − 1; c; z)) with a − 1 = `second`: the expected
    purchases of a customer alive at the snapshot in BG/NBD and MBG/NBD, after Euler's transformation of their
    hypergeometric term (its first parameters then do not grow with x, and z < 1)."""

    @F.pandas_udf("double")
    def series(c: pd.Series, z: pd.Series) -> pd.Series:
        return pd.Series(hyp2f1(first, second, c.to_numpy(), z.to_numpy()))

    known = F.when(c.isNotNull() & z.isNotNull(), series(c, z))  # null stays null, not NaN
    return (c / second) * (1 - F.pow(1 - z, F.lit(second)) * known)


def _buyers_only(expected: Column) -> Column:
    return F.when(F.col("orders_total") > 0, expected).otherwise(F.lit(0.0))


def expected_orders(model: BtydModel, horizon_days: int) -> Column:
    """E[purchases in the next `horizon_days` | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10); 0 for customers
    who never bought.

    With Euler's transformation ₂F₁(r+x, b+x; c; z) = (1−z)^(c−r−b−2x) ₂F₁(a+b−1−r, a−1; c; z), c = a+b+x−1,
    and (α+T)/(α+T+t) = 1−z, the hypergeometric term becomes (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; c; z).
    """
    p, t = model.bgnbd, horizon_days / model.unit_days
    x, t_x, T = _in_units(model)
    z = F.lit(t) / (F.lit(p.alpha + t) + T)
    purchases = _euler_purchases(p.a + p.b - 1 - p.r, p.a - 1, x + (p.a + p.b - 1), z)
    return _buyers_only(purchases / _alive_odds_denominator(p, x, t_x, T))


def mbgnbd_expected_orders(model: BtydModel, horizon_days: int) -> Column:
    """MBG/NBD's conditional expected purchases (Batislam et al. 2007): ₂F₁(r+x, b+x+1; a+b+x; z), by Euler's
    transformation (1−z)^(a−1) ₂F₁(a+b−r, a−1; a+b+x; z) after the (1−z)^(r+x) factor; alive unless the customer
    dropped out after any purchase, the first included."""
    p, t = model.mbgnbd, horizon_days / model.unit_days
    x, t_x, T = _in_units(model)
    z = F.lit(t) / (F.lit(p.alpha + t) + T)
    purchases = _euler_purchases(p.a + p.b - p.r, p.a - 1, x + (p.a + p.b), z)
    dropout_odds = (p.a / (p.b + x)) * ((p.alpha + T) / (p.alpha + t_x)) ** (p.r + x)
    return _buyers_only(purchases / (1 + dropout_odds))


def pareto_nbd_expected_orders(model: BtydModel, horizon_days: int) -> Column:
    """Pareto/NBD's conditional expected purchases (Fader, Hardie & Lee 2005 note, eq. 21 × P(alive)).

    P(alive) needs A₀, a difference of two ₂F₁ whose parameters grow with x: a Pandas UDF evaluates it with the
    same numpy function the fit uses (scipy's hyp2f1), over Arrow batches on the executors."""
    p, t = model.pareto_nbd, horizon_days / model.unit_days
    values = np.array([p.r, p.alpha, p.s, p.beta])

    @F.pandas_udf("double")
    def log_a0(x: pd.Series, t_x: pd.Series, T: pd.Series) -> pd.Series:
        with np.errstate(all="ignore"):
            return pd.Series(pareto_nbd_log_a0(values, x.to_numpy(), t_x.to_numpy(), T.to_numpy()))

    x, t_x, T = _in_units(model)
    log_dropout_odds = (
        F.log(F.lit(p.s) / (x + (p.r + p.s)))
        + (x + p.r) * F.log(T + p.alpha)
        + F.lit(p.s) * F.log(T + p.beta)
        + log_a0(x, t_x, T)
    )
    alive = 1 / (1 + F.exp(log_dropout_odds))
    rate = (x + p.r) * (T + p.beta) / ((T + p.alpha) * (p.s - 1))
    purchases = rate * (1 - F.pow((T + p.beta) / (T + (p.beta + t)), F.lit(p.s - 1)))
    return _buyers_only(alive * purchases)


def expected_order_value(params: GammaGammaParams) -> Column:
    """Gamma-Gamma conditional mean value per purchase; the population mean for customers without repeats."""
    x, m = F.col("bt_frequency").cast("double"), F.col("bt_monetary_value")
    population = params.p * params.v / (params.q - 1)
    weight = params.p * x / (params.p * x + params.q - 1)
    return F.when((x > 0) & (m > 0), (1 - weight) * population + weight * m).otherwise(F.lit(population))


def with_btyd_features(features: DataFrame, model: BtydModel | None, horizon_days: int) -> DataFrame:
    """Adds (or replaces) the `BTYD_FEATURES` of a fit: P(alive), expected orders over the horizon, expected value
    per order and their product, BG/NBD + Gamma-Gamma's value; nulls without a fit."""
    if model is None:
        return features.withColumns({c: F.lit(None).cast("double") for c in BTYD_FEATURES})
    return features.withColumns(
        {
            "btyd_p_alive": p_alive(model),
            "btyd_expected_orders": expected_orders(model, horizon_days),
            "btyd_order_value": expected_order_value(model.gamma_gamma),
        }
    ).withColumn(BTYD_VALUE, F.col("btyd_expected_orders") * F.col("btyd_order_value"))


def family_clv(model: BtydModel, horizon_days: int) -> dict[str, Column]:
    """Expected value over the horizon of the fitted Pareto/NBD and MBG/NBD (expected orders × Gamma-Gamma value
    per order), by their `BtydModel` field."""
    expected = {"pareto_nbd": pareto_nbd_expected_orders, "mbgnbd": mbgnbd_expected_orders}
    value = expected_order_value(model.gamma_gamma)
    return {
        name: orders(model, horizon_days) * value
        for name, orders in expected.items()
        if getattr(model, name) is not None
    }
