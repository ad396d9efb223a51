"""What clvlake prints: one JSON summary line per step (for machines and logs), and the few tables people read
(a fit's method × metric comparison, the value tiers of a score date). Formatting only: no Spark, no policy."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import date

COMPARISON_COLUMNS = (
    "normalised_gini",
    "spearman",
    "rmse",
    "mae",
    "top_decile_capture",
    "total_ratio",
    "coverage",
)


def _json_default(value: object) -> object:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return str(value)


def summary_line(job: str, when: str | None, seconds: float, result: Mapping[str, object]) -> str:
    """`{"job": …, "as_of": …, "status": "ok", "seconds": …, **result}` as one JSON line (the step's own seconds
    win over any `seconds` in the result)."""
    shown = {key: value for key, value in result.items() if key != "seconds"}
    record = {"job": job, "as_of": when, "status": "ok", "seconds": round(seconds, 1), **shown}
    return json.dumps(record, default=_json_default)


def comparison_table(
    metrics: Mapping[str, Mapping[str, float]], columns: Iterable[str] = COMPARISON_COLUMNS
) -> str:
    """A compact method × metric table for the terminal."""
    columns = list(columns)
    lines = [f"{'method':<24}" + "".join(f"{c:>20}" for c in columns)]
    for method, values in metrics.items():
        lines.append(f"{method:<24}" + "".join(f"{values.get(c, float('nan')):>20.4f}" for c in columns))
    return "\n".join(lines)


def training_report(result: Mapping[str, object]) -> str:
    """`clv train`: the comparison on held-out customers, then whether the champion moved."""
    moved = "moved to" if result["champion_moved"] else "kept; new"
    selected = (
        f"selected on {', '.join(result['selected_on'])}, not on these customers"
        if result["selected_on"]
        else "the only form"
    )
    weight = result["blend_weight"]
    blend = f" blended with BG/NBD + Gamma-Gamma, weight {weight:.2f}" if weight is not None else ""
    return (
        f"\nHeld-out customers at {result['training_snapshot']} "
        f"(trained form: {result['form']}{blend}, {selected})\n"
        f"{comparison_table(result['comparison'])}\n"
        f"\nchampion {moved} version {result['model_version']}: {result['champion_reason']}\n"
    )


def backtest_report(result: Mapping[str, object]) -> str:
    """`clv backtest`: the comparison on the held-out customers of the split, and the form selected."""
    selected = (
        f"selected: {result['selected']}, the best {result['selection_metric']} on the {result['selected_on']} "
        "(held out of the fit), not on these customers"
        if result["selected_on"]
        else f"{result['selected']}: the only form"
    )
    return (
        f"\nHeld-out customers, {result['calibration_end']} to {result['holdout_end']} ({selected})\n"
        f"{comparison_table(result['metrics'])}"
    )


def tier_table(rows: Iterable[Mapping[str, object]], horizon_days: int, score_date: date) -> str:
    """The rows of `scoring.tiers.tier_summary` (one per tier) as a table."""
    lines = [
        f"\nPredicted {horizon_days}-day customer value by tier, score date {score_date}",
        f"{'tier':<12}{'customers':>10}{'avg CLV':>12}{'total CLV':>15}{'share':>8}",
    ]
    for row in rows:
        lines.append(
            f"{row['value_tier']:<12}{row['customers']:>10,}{row['avg_clv']:>12,.2f}"
            f"{row['total_clv']:>15,.0f}{row['value_share']:>8.1%}"
        )
    return "\n".join(lines)
