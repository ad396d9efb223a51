"""The champion rule: the alias moves only when the new model beats the champion and every baseline on every
configured metric, all evaluated on the same rows."""

from __future__ import annotations

from dataclasses import dataclass

from clvlake.modeling.metrics import score_metric


@dataclass(frozen=True)
class Decision:
    moved: bool
    reason: str


def decide(
    candidate: dict[str, float], rivals: dict[str, dict[str, float]], metrics: list[str], has_champion: bool
) -> Decision:
    """Compare the candidate's metrics with each rival's (champion and baselines); ties and NaN do not beat."""
    losses = [
        f"{metric} {candidate[metric]:.4f} vs {name} {values[metric]:.4f}"
        for name, values in rivals.items()
        for metric in metrics
        if not score_metric(metric, candidate[metric]) > score_metric(metric, values[metric])
    ]
    if not has_champion:
        return Decision(True, "no champion yet: the first model becomes champion")
    if losses:
        return Decision(
            False, f"kept the champion: the new model does not beat it on {'; '.join(losses[:3])}"
        )
    return Decision(True, f"beats the champion and {len(rivals) - 1} baselines on {', '.join(metrics)}")
