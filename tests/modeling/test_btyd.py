"""The BTYD family at scale (BG/NBD + Gamma-Gamma, Pareto/NBD, MBG/NBD): parameters on lifetimes' CDNOW sample,
and Spark scoring against scipy.

tests/data/cdnow_summary.csv is lifetimes' `cdnow_customers_summary_with_transactions.csv` (MIT licence, the
CDNOW sample of Fader & Hardie): x, t_x and T in weeks, monetary = mean repeat transaction value.
"""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from scipy.special import betaln, gammaln, hyp2f1

from clvlake.config import BtydSettings
from clvlake.errors import InputError
from clvlake.modeling.btyd import (
    BgNbdData,
    BgNbdParams,
    BtydModel,
    GammaGammaData,
    GammaGammaParams,
    MbgNbdParams,
    ParetoNbdParams,
    bgnbd_log_likelihood,
    collect_tables,
    fit_bgnbd,
    fit_btyd,
    fit_mbgnbd,
    fit_pareto_nbd,
    gamma_gamma_log_likelihood,
    mbgnbd_expected_orders,
    pareto_nbd_customer_log_likelihood,
    pareto_nbd_expected_orders,
    with_btyd_features,
)
from clvlake.modeling.dataset import snapshot_btyd_fits, with_btyd_inputs, with_snapshot_btyd
from clvlake.schemas import BTYD_FEATURES
from tests.support.config import REPO

CDNOW = REPO / "tests" / "data" / "cdnow_summary.csv"
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # lifetimes' docs, weeks
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}
PUBLISHED_PARETO_NBD = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}  # lifetimes' docs, weeks
PUBLISHED_MBGNBD = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}


@pytest.fixture(scope="module")
def cdnow_features(spark):
    """The CDNOW summary as customer_features columns, in whole days (CDNOW's dates are days)."""
    d = pd.read_csv(CDNOW)
    rows = pd.DataFrame(
        {
            "customer_key": [f"c{i}" for i in range(len(d))],
            "orders_total": d["x"] + 1,
            "bt_frequency": d["x"],
            "bt_recency_days": (d["t_x"] * 7).round().astype(float),
            "bt_tenure_days": (d["T"] * 7).round().astype(float),
            "bt_monetary_value": d["monetary"].astype(float),
        }
    )
    return spark.createDataFrame(rows)


def test_fit_on_cdnow_matches_lifetimes_published_estimates_within_one_percent(cdnow_features):
    model = fit_btyd(cdnow_features, unit_days=1, monetary_digits=4)
    weeks = {**vars(model.bgnbd), "alpha": model.bgnbd.alpha / 7}  # fitted in days; lifetimes used weeks
    for name, published in PUBLISHED_BGNBD.items():
        assert weeks[name] == pytest.approx(published, rel=0.01), name
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert getattr(model.gamma_gamma, name) == pytest.approx(published, rel=0.01), name


@pytest.mark.parametrize(
    "fit, published, scales",
    [
        (fit_pareto_nbd, PUBLISHED_PARETO_NBD, ("alpha", "beta")),
        (fit_mbgnbd, PUBLISHED_MBGNBD, ("alpha",)),
    ],
    ids=["pareto_nbd", "mbgnbd"],
)
def test_the_rest_of_the_family_matches_lifetimes_published_estimates_within_one_percent(
    cdnow_features, fit, published, scales
):
    """Fitted on the same collapsed (x, t_x, T, n) table as BG/NBD, in days; the rates' scales are per week."""
    table, _ = collect_tables(cdnow_features, unit_days=1, monetary_digits=4)
    fitted = vars(fit(table))
    weeks = {name: value / 7 if name in scales else value for name, value in fitted.items()}
    assert weeks == pytest.approx(published, rel=0.01)


def test_each_snapshot_gets_the_btyd_inputs_of_a_fit_on_its_own_training_customers(cdnow_features):
    """Two snapshots of CDNOW's customers ten weeks apart fit differently; every fifth customer is held out and
    plays no part in either fit; a snapshot without buyers has no fit and null inputs."""
    first, later, before_any = date(1997, 10, 1), date(1997, 12, 10), date(1996, 1, 1)
    held_out = F.substring("customer_key", 2, 9).cast("int") % 5 == 0
    at_first = cdnow_features.withColumns({"snapshot_date": F.lit(first), "is_holdout": held_out})
    data = at_first.unionByName(
        at_first.withColumns({"snapshot_date": F.lit(later), "bt_tenure_days": F.col("bt_tenure_days") + 70})
    ).unionByName(
        at_first.limit(5).withColumns(
            {"snapshot_date": F.lit(before_any), "orders_total": F.lit(0).cast("long")}
        )
    )
    settings = BtydSettings(unit_days=7, monetary_digits=4)
    fits = snapshot_btyd_fits(data, [first, later, before_any], settings)

    training = at_first.where(~held_out)
    assert fits[first] == fit_btyd(training, 7, 4)
    assert fits[first].bgnbd != fit_btyd(at_first, 7, 4).bgnbd  # the held-out customers would change it
    assert fits[later].bgnbd != fits[first].bgnbd
    assert fits[before_any] is None
    expected = (
        with_btyd_features(data.where(F.col("snapshot_date") == F.lit(first)), fits[first], 364)
        .unionByName(with_btyd_features(data.where(F.col("snapshot_date") == F.lit(later)), fits[later], 364))
        .unionByName(with_btyd_features(data.where(F.col("snapshot_date") == F.lit(before_any)), None, 364))
    )
    with_inputs = with_snapshot_btyd(data, fits, 364)
    assert_df_equality(with_inputs, expected, ignore_row_order=True)
    nulls = with_inputs.where(F.col("snapshot_date") == F.lit(before_any)).select(*BTYD_FEATURES).distinct()
    assert nulls.collect() == [tuple([None] * len(BTYD_FEATURES))]

    # with the inputs off (the default) only the evaluations' training snapshots are fitted, for the baselines
    unchanged, baseline_fits = with_btyd_inputs(data, [first, later, before_any], [first], settings, 364)
    assert unchanged is data and baseline_fits == {first: fits[first]}


def cdnow_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """CDNOW as uncollapsed tables (one row per customer, n = 1): BG/NBD and Gamma-Gamma's repeat buyers."""
    d = pd.read_csv(CDNOW).assign(n=1.0, m=lambda t: t["monetary"])
    return d[["x", "t_x", "T", "n"]], d[d["x"] > 0][["x", "m", "n"]]


def reference_bgnbd(params, x, t_x, T) -> np.ndarray:
    """Fader, Hardie & Lee (2005) eq. 6, customer by customer, as lifetimes writes it."""
    r, alpha, a, b = params
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    no_dropout = -(r + x) * np.log(alpha + T)
    dropout = np.where(
        x > 0, np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x), -np.inf
    )
    return common + np.logaddexp(no_dropout, dropout)


def reference_gamma_gamma(params, x, m) -> np.ndarray:
    """Fader, Hardie & Lee (2005b): the Gamma-Gamma density of a mean value m over x purchases."""
    p, q, v = params
    return (
        gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
        + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v)
    )  # fmt: skip


@pytest.mark.parametrize("params", [[0.3, 5.0, 0.7, 2.0], [1.2, 40.0, 0.2, 6.0]])
def test_bgnbd_likelihood_sums_the_per_customer_formula(params):
    bgnbd, _ = cdnow_tables()
    value, _ = bgnbd_log_likelihood(np.array(params), BgNbdData.from_table(bgnbd))
    x, t_x, T = (bgnbd[c].to_numpy() for c in ("x", "t_x", "T"))
    assert value == pytest.approx(reference_bgnbd(params, x, t_x, T).sum(), rel=1e-12)


def test_gamma_gamma_likelihood_sums_the_per_customer_formula():
    _, repeat = cdnow_tables()
    params = [5.0, 3.0, 14.0]
    value, _ = gamma_gamma_log_likelihood(np.array(params), GammaGammaData.from_table(repeat))
    expected = reference_gamma_gamma(params, repeat["x"].to_numpy(), repeat["m"].to_numpy()).sum()
    assert value == pytest.approx(expected, rel=1e-12)


def test_collapsing_identical_customers_leaves_the_likelihood_unchanged():
    bgnbd, _ = cdnow_tables()
    params = np.array([0.3, 5.0, 0.7, 2.0])
    collapsed = bgnbd.groupby(["x", "t_x", "T"], as_index=False)["n"].sum()
    assert len(collapsed) < len(bgnbd)
    full, full_gradient = bgnbd_log_likelihood(params, BgNbdData.from_table(bgnbd))
    value, gradient = bgnbd_log_likelihood(params, BgNbdData.from_table(collapsed))
    assert value == pytest.approx(full, rel=1e-12)
    assert gradient == pytest.approx(full_gradient, rel=1e-10)


@pytest.mark.parametrize(
    "likelihood, data, params",
    [
        (bgnbd_log_likelihood, BgNbdData.from_table(cdnow_tables()[0]), [0.3, 5.0, 0.7, 2.0]),
        (gamma_gamma_log_likelihood, GammaGammaData.from_table(cdnow_tables()[1]), [5.0, 3.0, 14.0]),
    ],
    ids=["bgnbd", "gamma_gamma"],
)
def test_analytic_gradients_match_finite_differences(likelihood, data, params):
    at, step = np.array(params), 1e-4 * np.eye(len(params))  # central differences: error ~ step², not step
    numeric = [(likelihood(at + h, data)[0] - likelihood(at - h, data)[0]) / 2e-4 for h in step]
    assert likelihood(at, data)[1] == pytest.approx(numeric, rel=1e-6)


def test_collapsed_tables_keep_every_customer_in_far_fewer_rows(cdnow_features):
    table, repeat = collect_tables(cdnow_features, unit_days=7, monetary_digits=2)
    assert table["n"].sum() == 2357
    assert len(table) < 2357 / 2
    assert repeat["n"].sum() == 2357 - int((pd.read_csv(CDNOW)["x"] == 0).sum())
    assert set(np.round(repeat["m"] / 10 ** np.floor(np.log10(repeat["m"])), 6)) <= {
        round(v / 10, 6) for v in range(10, 100)
    }


def reference_expected_purchases(p: BgNbdParams, t, x, t_x, T):
    """Fader, Hardie & Lee (2005) eq. 10 with scipy's hyp2f1, as lifetimes computes it."""
    hyp = hyp2f1(p.r + x, p.b + x, p.a + p.b + x - 1, t / (p.alpha + T + t))
    numerator = (p.a + p.b + x - 1) / (p.a - 1) * (1 - hyp * ((p.alpha + T) / (p.alpha + T + t)) ** (p.r + x))
    odds = np.where(x > 0, p.a / (p.b + x - 1) * ((p.alpha + T) / (p.alpha + t_x)) ** (p.r + x), 0.0)
    return numerator / (1 + odds), 1 / (1 + odds)


def test_spark_scoring_matches_the_closed_forms(spark):
    model = BtydModel(BgNbdParams(0.243, 4.414, 0.793, 2.426), GammaGammaParams(6.25, 3.74, 15.44), 7.0)
    cases = [(0, 0.0, 10.0, 0.0), (1, 7.0, 70.0, 20.0), (5, 200.0, 273.0, 35.0), (40, 250.0, 260.0, 12.0)]
    rows = [(f"c{i}", x + 1, x, t_x, T, m) for i, (x, t_x, T, m) in enumerate(cases)]
    rows.append(("never", 0, 0, 0.0, 0.0, 0.0))
    df = spark.createDataFrame(
        rows,
        "customer_key string, orders_total int, bt_frequency int, bt_recency_days double, "
        "bt_tenure_days double, bt_monetary_value double",
    )
    got = {r["customer_key"]: r for r in with_btyd_features(df, model, horizon_days=364).collect()}
    for i, (x, t_x, T, m) in enumerate(cases):
        expected, alive = reference_expected_purchases(model.bgnbd, 52.0, x, t_x / 7, T / 7)
        row = got[f"c{i}"]
        assert row["btyd_expected_orders"] == pytest.approx(float(expected), rel=1e-6)
        assert row["btyd_p_alive"] == pytest.approx(float(alive), rel=1e-9)
        gg = model.gamma_gamma
        value = gg.p * gg.v / (gg.q - 1)
        if x > 0:
            w = gg.p * x / (gg.p * x + gg.q - 1)
            value = (1 - w) * value + w * m
        assert row["btyd_value"] == pytest.approx(float(expected) * value, rel=1e-6)
    assert (
        got["never"]["btyd_expected_orders"],
        got["never"]["btyd_p_alive"],
        got["never"]["btyd_value"],
    ) == (
        0.0,
        1.0,
        0.0,
    )


def reference_mbgnbd_purchases(p: MbgNbdParams, t, x, t_x, T):
    """MBG/NBD's conditional expectation with scipy's hyp2f1, as lifetimes computes it."""
    hyp = hyp2f1(p.r + x, p.b + x + 1, p.a + p.b + x, t / (p.alpha + T + t))
    numerator = (p.a + p.b + x) / (p.a - 1) * (1 - hyp * ((p.alpha + T) / (p.alpha + t + T)) ** (p.r + x))
    return numerator / (1 + p.a / (p.b + x) * ((p.alpha + T) / (p.alpha + t_x)) ** (p.r + x))


def reference_pareto_nbd_purchases(p: ParetoNbdParams, t, x, t_x, T):
    """Pareto/NBD's conditional expectation as lifetimes computes it: exp of its log terms less the customer's
    log-likelihood."""
    params = np.array([p.r, p.alpha, p.s, p.beta])
    log_likelihood = pareto_nbd_customer_log_likelihood(params, x, t_x, T)
    first = (
        gammaln(p.r + x)
        - gammaln(p.r)
        + p.r * np.log(p.alpha)
        + p.s * np.log(p.beta)
        - (p.r + x) * np.log(p.alpha + T)
        - p.s * np.log(p.beta + T)
    )
    second = np.log(p.r + x) + np.log(p.beta + T) - np.log(p.alpha + T)
    third = np.log((1 - ((p.beta + T) / (p.beta + T + t)) ** (p.s - 1)) / (p.s - 1))
    return np.exp(first + second + third - log_likelihood)


def test_spark_scoring_of_pareto_nbd_and_mbgnbd_matches_the_closed_forms(spark):
    model = BtydModel(
        BgNbdParams(0.243, 4.414, 0.793, 2.426),
        GammaGammaParams(6.25, 3.74, 15.44),
        7.0,
        ParetoNbdParams(0.553, 10.578, 0.606, 11.669),
        MbgNbdParams(0.525, 6.183, 0.891, 1.614),
    )
    cases = [(0, 0.0, 10.0), (1, 7.0, 70.0), (5, 200.0, 273.0), (40, 250.0, 260.0), (3, 91.0, 91.0)]
    rows = [(f"c{i}", x + 1, x, t_x, T, 20.0) for i, (x, t_x, T) in enumerate(cases)]
    rows.append(("never", 0, 0, 0.0, 0.0, 0.0))
    df = spark.createDataFrame(
        rows,
        "customer_key string, orders_total int, bt_frequency int, bt_recency_days double, "
        "bt_tenure_days double, bt_monetary_value double",
    )
    columns = {
        "pareto": pareto_nbd_expected_orders(model, 364),
        "mbg": mbgnbd_expected_orders(model, 364),
    }
    got = {r["customer_key"]: r for r in df.withColumns(columns).collect()}
    for i, (x, t_x, T) in enumerate(cases):
        weeks = (52.0, float(x), t_x / 7, T / 7)
        assert got[f"c{i}"]["pareto"] == pytest.approx(
            float(reference_pareto_nbd_purchases(model.pareto_nbd, *weeks)), rel=1e-6
        )
        assert got[f"c{i}"]["mbg"] == pytest.approx(
            float(reference_mbgnbd_purchases(model.mbgnbd, *weeks)), rel=1e-6
        )
    assert (got["never"]["pareto"], got["never"]["mbg"]) == (0.0, 0.0)


def test_params_round_trip_through_mlflow_style_strings():
    model = BtydModel(BgNbdParams(0.2, 30.0, 0.8, 2.4), GammaGammaParams(6.0, 3.0, 15.0), 7.0)
    assert BtydModel.from_params({k: str(v) for k, v in model.as_params().items()}) == model


def test_customers_without_purchases_do_not_enter_the_fit(spark, cdnow_features):
    extra = cdnow_features.limit(1).withColumns(
        {"customer_key": F.lit("new"), "orders_total": F.lit(0), "bt_frequency": F.lit(0)}
    )
    table, _ = collect_tables(cdnow_features.unionByName(extra), unit_days=7, monetary_digits=4)
    assert table["n"].sum() == 2357


def test_a_fit_without_dropout_is_reported_not_returned():
    table = pd.DataFrame(
        {"x": [3.0, 4.0, 5.0], "t_x": [49.0, 50.0, 50.0], "T": [50.0, 50.0, 50.0], "n": [10, 10, 10]}
    )
    with pytest.raises(InputError, match="degenerate"):
        fit_bgnbd(table)
