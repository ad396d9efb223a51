"""The oracle: true expected net value of each simulated customer for any (as_of, horizon).

It reads ``customer_truth.csv`` (as written by the generator) and integrates the latent process exactly:
a customer alive at ``a`` (first purchase before ``a``, dropout after ``a``) buys at rate ``lambda * s(t)``
and survives to ``t`` with probability ``exp(-mu (t - a))``; a customer whose first purchase ``t0`` falls in
the window contributes that order plus repeats from ``t0`` on. Net value per order is
``mean_order_value * (1 - expected_discount_share - expected_refund_share)``, refunds counted with their
order.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

# Monthly seasonality multiplier s(t), January..December, mean 1. Shared with the generator.
SEASONALITY = np.array([0.80, 0.80, 0.95, 0.95, 1.00, 0.95, 0.90, 0.95, 1.00, 1.05, 1.25, 1.40])
_NUMERIC = (
    "lambda_per_day", "mu_per_day", "mean_order_value", "expected_discount_share", "expected_refund_share"
)  # fmt: skip


def daily_seasonality(as_of: date, horizon_days: int) -> np.ndarray:
    """s(t) for each day as_of + d, d = 0 .. horizon_days - 1."""
    return np.array([SEASONALITY[(as_of + timedelta(days=d)).month - 1] for d in range(horizon_days)])


def _days_after(timestamps: pd.Series, as_of: pd.Timestamp) -> np.ndarray:
    """Float days from ``as_of`` to each ISO timestamp (NaN where empty)."""
    parsed = pd.to_datetime(timestamps, utc=True, format="ISO8601")
    return ((parsed - as_of) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=np.nan)


def expected_repeat_orders(
    lam: np.ndarray, mu: np.ndarray, since: np.ndarray, seasonality: np.ndarray
) -> np.ndarray:
    """E[purchases in [since, H)] for a customer alive at ``since`` (days after as_of, 0 <= since < H).

    Day d covers [d, d+1); its share is s_d * integral of exp(-mu (t - since)) over [max(d, since), d+1).
    """
    total = np.zeros_like(lam, dtype=float)
    for d, s_d in enumerate(seasonality):
        lo = np.maximum(d, since)
        span = np.clip(d + 1 - lo, 0.0, None)
        total += s_d * np.exp(-mu * (lo - since)) * -np.expm1(-mu * span) / mu
    return lam * total


def expected_value(truth: pd.DataFrame, as_of: date, horizon_days: int) -> pd.DataFrame:
    """True expected net value (gross - discount - refunds) of purchases in [as_of, as_of + horizon_days).

    Non-zero for customers alive at ``as_of`` and for customers whose first purchase falls in the window;
    zero for never-buyers, customers who dropped out before ``as_of`` and first purchases after the window.
    """
    a = pd.Timestamp(as_of, tz="UTC")
    t0 = _days_after(truth["first_purchase_ts"], a)
    dropout = _days_after(truth["dropout_ts"], a)
    alive = (t0 < 0) & (dropout > 0)
    new = (t0 >= 0) & (t0 < horizon_days)
    since = np.where(new, t0, 0.0)
    number = {name: truth[name].to_numpy(dtype=float) for name in _NUMERIC}
    seasonality = daily_seasonality(as_of, horizon_days)
    orders = expected_repeat_orders(number["lambda_per_day"], number["mu_per_day"], since, seasonality) + new
    net = number["mean_order_value"] * (
        1 - number["expected_discount_share"] - number["expected_refund_share"]
    )
    value = np.where(alive | new, net * orders, 0.0)
    return pd.DataFrame({"customer_id": truth["customer_id"].to_numpy(), "expected_value": value})
