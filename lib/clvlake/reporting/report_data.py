"""What the HTML report shows, gathered from the lake as small aggregates (bounded by tiers, segments, score
dates, cohorts and deciles, never by customers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clvlake.config import LIFECYCLE_STAGES, Config
from clvlake.lake import Lake

HISTOGRAM_TOP_QUANTILE = 0.99  # bins span [0, this quantile]; the rest is one "and more" bar
MAX_SCORE_DATES = 24
MAX_COHORTS = 24
MAX_COHORT_MONTHS = 24


@dataclass
class ModelEvaluation:
    """Backtest on held-out customers: metrics and decile calibration per method."""

    snapshot: date
    metrics: dict[str, dict[str, float]]  # method → metric → value
    deciles: dict[str, dict[int, dict[str, float]]]  # method → decile → customers/mean_predicted/mean_actual


@dataclass
class ReportData:
    score_date: date
    horizon_days: int
    model: str  # name and version
    tiers: list[str]
    segments: list[dict]  # segment_summary rows
    histogram: list[tuple[str, int]]
    tier_history: dict[date, dict[str, float]]  # score date → tier → total predicted CLV
    migration_from: date | None
    migration: dict[tuple[str, str], int]  # (from tier, to tier) → customers
    cohorts: list[dict]
    evaluation: ModelEvaluation | None
    what_if: list[dict]
    budget: list[dict]
    budget_total: float
    stages: list[str] = field(default_factory=lambda: list(LIFECYCLE_STAGES))


def _rows(df: DataFrame) -> list[dict]:
    return [r.asDict() for r in df.collect()]


def histogram_edges(top: float) -> list[float]:
    """0, 1, 2, 5, 10, 20, 50, … up to the first edge at or above `top`: readable bins for a skewed value."""
    edges, magnitude = [0.0], 1.0
    while edges[-1] < top:
        edges += [m * magnitude for m in (1, 2, 5) if m * magnitude > edges[-1]]
        magnitude *= 10
    return [e for i, e in enumerate(edges) if i == 0 or edges[i - 1] < top]


def clv_histogram(scores: DataFrame) -> list[tuple[str, int]]:
    """Customers per predicted-CLV bin [edge, next edge), up to the 99th percentile, and one bin above it."""
    top = scores.approxQuantile("predicted_clv", [HISTOGRAM_TOP_QUANTILE], 0.001)[0] or 1.0
    edges = histogram_edges(top)
    value = F.col("predicted_clv")
    bin_index = F.lit(len(edges) - 1)
    for i in reversed(range(len(edges) - 1)):
        bin_index = F.when(value < edges[i + 1], F.lit(i)).otherwise(bin_index)
    counts = {r[0]: r[1] for r in scores.groupBy(bin_index).count().collect()}  # one row per bin
    labels = [f"{a:,.0f}–{b:,.0f}" for a, b in zip(edges, edges[1:], strict=False)] + [f"≥{edges[-1]:,.0f}"]
    return [(label, counts.get(i, 0)) for i, label in enumerate(labels)]


def tier_history(lake: Lake, score_date: date) -> dict[date, dict[str, float]]:
    """Total predicted CLV per tier for the last score dates up to this one (one aggregate: dates × tiers)."""
    totals = (
        lake.read("clv_scores")
        .where(F.col("score_date") <= F.lit(score_date))
        .groupBy("score_date", "value_tier")
        .agg(F.sum("predicted_clv"))
        .collect()
    )
    dates = sorted({r[0] for r in totals})[-MAX_SCORE_DATES:]
    history: dict[date, dict[str, float]] = {d: {} for d in dates}
    for day, tier, total in totals:
        if day in history:
            history[day][tier] = total
    return history


def model_evaluation(lake: Lake, score_date: date) -> ModelEvaluation | None:
    """The latest held-out-customer backtest at or before the score date (None before any training)."""
    if not lake.exists("backtest_metrics"):
        return None
    metrics = lake.read("backtest_metrics").where(
        (F.col("evaluation") == "customers") & (F.col("snapshot_date") <= F.lit(score_date))
    )
    snapshot = metrics.agg(F.max("snapshot_date")).first()[0]
    if snapshot is None:
        return None
    scalar: dict[str, dict[str, float]] = {}
    deciles: dict[str, dict[int, dict[str, float]]] = {}
    for r in metrics.where(F.col("snapshot_date") == F.lit(snapshot)).collect():
        if r["decile"] is None:
            scalar.setdefault(r["method"], {})[r["metric"]] = r["value"]
        else:
            deciles.setdefault(r["method"], {}).setdefault(r["decile"], {})[r["metric"]] = r["value"]
    return ModelEvaluation(snapshot, scalar, deciles)


def _partition(lake: Lake, table: str, score_date: date) -> DataFrame:
    """A table's rows of one score date (possibly none: the first score date has no migration)."""
    return lake.read(table).where(F.col("score_date") == F.lit(score_date))


def tier_migration(migration: DataFrame) -> tuple[date | None, dict[tuple[str, str], int]]:
    """The previous score date and customers per (from tier, to tier)."""
    rows = migration.groupBy("previous_score_date", "from_tier", "to_tier").agg(F.sum("customers")).collect()
    return (rows[0][0] if rows else None), {(r[1], r[2]): int(r[3]) for r in rows}


def recent_cohorts(cohorts: DataFrame) -> list[dict]:
    """The latest cohorts' first months."""
    latest = cohorts.select("cohort_month").distinct().orderBy(F.desc("cohort_month")).limit(MAX_COHORTS)
    return _rows(
        cohorts.join(latest, on="cohort_month").where(F.col("months_since_first") < MAX_COHORT_MONTHS)
    )


def report_data(lake: Lake, cfg: Config, score_date: date, budget: list[dict]) -> ReportData:
    """Everything the report shows for one score date, from the tables `clv report` has just written."""
    scores = lake.read_partition("clv_scores", score_date)
    first = scores.select("model_name", "model_version").first()
    migration_from, migration = tier_migration(_partition(lake, "segment_migration", score_date))
    return ReportData(
        score_date=score_date,
        horizon_days=cfg.model.horizon_days,
        model=f"{first['model_name']} version {first['model_version']}",
        tiers=[t.name for t in cfg.scoring.tiers],
        segments=_rows(_partition(lake, "segment_summary", score_date)),
        histogram=clv_histogram(scores),
        tier_history=tier_history(lake, score_date),
        migration_from=migration_from,
        migration=migration,
        cohorts=recent_cohorts(_partition(lake, "cohorts", score_date)),
        evaluation=model_evaluation(lake, score_date),
        what_if=_rows(_partition(lake, "what_if", score_date)),
        budget=budget,
        budget_total=cfg.segments.budget.total,
    )
