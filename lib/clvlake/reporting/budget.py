"""Marketing budget across segments: in proportion to expected incremental value, within per-segment bounds.

The inputs are one row per segment (a few dozen at most), so the split is plain Python on the driver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from clvlake.config import ActionSpec, BudgetSettings
from clvlake.errors import InputError

TOLERANCE = 1e-9


@dataclass(frozen=True)
class SegmentDemand:
    segment: str
    value_tier: str
    lifecycle_stage: str
    recommended_action: str
    customers: int
    avg_predicted_clv: float


def water_fill(weights: dict[str, float], total: float, lower: dict[str, float], upper: dict[str, float]):
    """Split `total` in proportion to `weights`, each part kept within [lower, upper].

    Parts that would fall outside their bounds are fixed at the bound and the rest is split again among the
    others, until every part fits. Returns the parts; they sum to `total` whenever Σ lower ≤ total ≤ Σ upper,
    and to Σ upper when the bounds cannot absorb the total.
    """
    if sum(lower.values()) > total + TOLERANCE:
        raise InputError(
            f"budget {total:,.2f} is below the sum of the segments' minimum shares ({sum(lower.values()):,.2f})"
        )
    parts: dict[str, float] = {}
    free = set(weights)
    remaining = total
    while free:
        weight = sum(weights[s] for s in free)
        share = {s: remaining * (weights[s] / weight if weight > 0 else 1 / len(free)) for s in free}
        over = {s for s in free if share[s] > upper[s] + TOLERANCE}
        fixed = over or {s for s in free if share[s] < lower[s] - TOLERANCE}
        if not fixed:
            parts.update(share)
            break
        for s in fixed:
            parts[s] = upper[s] if s in over else lower[s]
        remaining -= sum(parts[s] for s in fixed)
        free -= fixed
    return parts


def allocate_budget(
    segments: list[SegmentDemand], actions: list[ActionSpec], budget: BudgetSettings
) -> list[dict[str, object]]:
    """One row per segment: its action's cost and expected incremental value, the budget it gets, and the
    customers that budget reaches with their expected return.

    A segment's bounds are [min_share, max_share] × total, and never more than contacting all its customers
    costs. Segments whose action is free (or has no expected gain) take no budget.
    """
    spec = {a.name: a for a in actions}
    cost, gain = {}, {}
    for s in segments:
        action = spec[s.recommended_action]
        cost[s.segment] = action.cost
        gain[s.segment] = (
            action.conversion_rate * action.uplift * s.avg_predicted_clv
        )  # per contacted customer
    funded = [s for s in segments if cost[s.segment] > 0 and gain[s.segment] > 0]
    full_cost = {s.segment: s.customers * cost[s.segment] for s in funded}
    parts = water_fill(
        {s.segment: s.customers * gain[s.segment] for s in funded},
        budget.total,
        {s.segment: min(budget.min_share * budget.total, full_cost[s.segment]) for s in funded},
        {s.segment: min(budget.max_share * budget.total, full_cost[s.segment]) for s in funded},
    )
    rows = []
    for s in segments:
        part = parts.get(s.segment, 0.0)
        reachable = (
            s.customers
            if cost[s.segment] == 0
            else min(s.customers, math.floor(part / cost[s.segment] + TOLERANCE))
        )
        rows.append(
            {
                "segment": s.segment,
                "value_tier": s.value_tier,
                "lifecycle_stage": s.lifecycle_stage,
                "recommended_action": s.recommended_action,
                "customers": s.customers,
                "cost_per_customer": cost[s.segment],
                "expected_incremental_value": s.customers * gain[s.segment],
                "budget": part,
                "budget_share": part / budget.total if budget.total > 0 else 0.0,
                "customers_reachable": reachable,
                "expected_return": reachable * gain[s.segment],
            }
        )
    return rows
