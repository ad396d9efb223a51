"""Lifecycle stages by the rules in conf, and the recommended action of each tier × stage cell.

Both are plain column expressions over `customer_features` (and `value_tier`), so they run inside the
scoring query with no extra pass over the data.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from clvlake.config import LIFECYCLE_STAGES, ActionRow, LifecycleRules


def usual_orders_per_window(rules: LifecycleRules) -> Column:
    """Orders the customer usually places in `frequency_window_days`, from their history before that window.

    Null when the history before the window is shorter than one window (no "usual" to compare with yet).
    """
    window = rules.frequency_window_days
    history_days = F.col("bt_tenure_days") - window
    earlier_orders = F.col("orders_total") - F.col(f"orders_{window}d")
    return F.when(history_days >= window, earlier_orders / history_days * window)


def lifecycle_stage(rules: LifecycleRules) -> Column:
    """prospect → lost → new → at_risk → loyal → active: the first rule that matches wins."""
    since_last = F.col("days_since_last_purchase")
    usual = usual_orders_per_window(rules)
    slowed_down = (usual >= 1) & (
        F.col(f"orders_{rules.frequency_window_days}d") < rules.at_risk_frequency_ratio * usual
    )
    return (
        F.when(F.col("orders_total") == 0, F.lit("prospect"))
        .when(since_last >= rules.lost_after_days, F.lit("lost"))
        .when(F.col("bt_tenure_days") < rules.new_within_days, F.lit("new"))
        .when(
            (since_last >= rules.at_risk_after_days) | F.coalesce(slowed_down, F.lit(False)), F.lit("at_risk")
        )
        .when(F.col("orders_365d") >= rules.loyal_min_orders_365d, F.lit("loyal"))
        .otherwise(F.lit("active"))
    )


def recommended_action(matrix: list[ActionRow], tier: Column, stage: Column) -> Column:
    """The action of the (tier, stage) cell of the matrix in conf, as one map lookup."""
    cells = F.create_map(
        *[
            x
            for row in matrix
            for stage_name in LIFECYCLE_STAGES
            for x in (F.lit(f"{row.tier}/{stage_name}"), F.lit(row.action(stage_name)))
        ]
    )
    return cells[segment(tier, stage)]


def segment(tier: Column, stage: Column) -> Column:
    """The segment name: `<tier>/<stage>`, e.g. gold/at_risk."""
    return F.concat_ws("/", tier, stage)
