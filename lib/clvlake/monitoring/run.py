"""The monitor job: checks, drift and live accuracy for one run date → ops tables, MLflow and alert records."""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import asdict
from datetime import date

import mlflow
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.catalog import TABLES
from clvlake.config import Config
from clvlake.features.inputs import lake_value_events
from clvlake.frames import local_frame
from clvlake.lake import Lake
from clvlake.modeling import registry
from clvlake.monitoring.checks import (
    Check,
    at_most,
    drift_checks,
    feature_checks,
    freshness_checks,
    ingest_checks,
    score_checks,
)
from clvlake.monitoring.drift import population_stability
from clvlake.monitoring.realised import BASELINE, MODEL, matured_score_dates, realised_frame, realised_metrics
from clvlake.privacy.erase import overdue_purge_check

log = logging.getLogger(__name__)
RETRAIN_METRIC = "normalised_gini"


def partition_dates(lake: Lake, table: str) -> list[date]:
    """The partition values of a date-partitioned table (one row per date)."""
    if not lake.exists(table):
        return []
    column = TABLES[table].partition_by
    return sorted(r[0] for r in lake.read(table).select(column).distinct().collect())


def previous_date(dates: list[date], as_of: date) -> date | None:
    earlier = [d for d in dates if d < as_of]
    return earlier[-1] if earlier else None


def checks_frame(spark: SparkSession, checks: list[Check], as_of: date) -> DataFrame:
    rows = [(as_of, c.stage, c.name, c.value, c.threshold, c.breached, c.detail) for c in checks]
    return local_frame(spark, rows, schemas.MONITOR_CHECKS)


def alert_record(check: Check, as_of: date) -> dict[str, object]:
    return {"alert": "clvlake.monitor", "run_date": as_of.isoformat(), **asdict(check)}


def post_alerts(url: str, alerts: list[dict[str, object]]) -> None:
    """POST the alerts as one JSON document; a failing webhook is logged, never hides the breach."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"alerts": alerts}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except OSError as err:
        log.warning("could not post %d alert(s) to the webhook: %s", len(alerts), err)


def drift(
    lake: Lake,
    cfg: Config,
    features: DataFrame,
    scores: DataFrame,
    as_of: date,
    reference_snapshot: date,
    previous_score_date: date | None,
) -> tuple[DataFrame, list[Check]]:
    """Feature PSI against the champion's training snapshot, prediction PSI against the previous score date."""
    monitoring = cfg.monitoring
    columns = list(schemas.FEATURE_COLUMNS)
    reference = lake.read_partition("training_sets", reference_snapshot)
    feature_psi = population_stability(reference, features, columns, monitoring.psi_bins)
    frames = [
        feature_psi.withColumns(
            {
                "kind": F.lit("feature"),
                "reference_date": F.lit(reference_snapshot),
                "threshold": F.lit(monitoring.feature_psi_threshold),
            }
        )
    ]
    alerting = feature_psi.where(~F.col("column").isin(*monitoring.drift_report_only))
    checks = drift_checks(alerting, "drift", monitoring.feature_psi_threshold)
    previous = previous_score_date
    if previous is not None:
        prediction_psi = population_stability(
            lake.read_partition("clv_scores", previous), scores, ["predicted_clv"], monitoring.psi_bins
        )
        frames.append(
            prediction_psi.withColumns(
                {
                    "kind": F.lit("prediction"),
                    "reference_date": F.lit(previous),
                    "threshold": F.lit(monitoring.prediction_psi_threshold),
                }
            )
        )
        checks += drift_checks(prediction_psi, "prediction_drift", monitoring.prediction_psi_threshold)
    table = frames[0] if len(frames) == 1 else frames[0].unionByName(frames[1])
    breached = (F.col("psi") > F.col("threshold")) & ~(
        (F.col("kind") == "feature") & F.col("column").isin(*monitoring.drift_report_only)
    )
    table = table.withColumns({"run_date": F.lit(as_of), "breached": breached})
    return table, checks


def judged_before(lake: Lake, as_of: date) -> frozenset[date]:
    """Score dates whose realised value a monitor run before the as-of date has already judged."""
    if not lake.exists("realised_vs_predicted"):
        return frozenset()
    earlier = lake.read("realised_vs_predicted").where(F.col("run_date") < F.lit(as_of))
    return frozenset(r[0] for r in earlier.select("score_date").distinct().collect())  # one per score date


def live_accuracy(
    spark: SparkSession,
    lake: Lake,
    cfg: Config,
    as_of: date,
    score_dates: list[date],
    feature_dates: list[date],
) -> tuple[DataFrame | None, list[Check]]:
    """Realised vs predicted for every score date whose horizon has passed since the last monitor run; retrain
    when the model trails."""
    rows, checks = [], []
    events = lake_value_events(lake, cfg.model.margin_mode)
    judged = judged_before(lake, as_of)
    for score_date in matured_score_dates(score_dates, as_of, cfg.model.horizon_days, judged):
        if score_date not in feature_dates:
            log.warning("score date %s has no feature snapshot left; skipping its realised value", score_date)
            continue
        scores = lake.read_partition("clv_scores", score_date)
        frame = realised_frame(
            scores,
            lake.read_partition("customer_features", score_date),
            events,
            score_date,
            cfg.model.horizon_days,
        )
        metrics = realised_metrics(frame)
        rows += [
            (as_of, score_date, method, metric, float(value))
            for method, values in metrics.items()
            for metric, value in values.items()
        ]
        model, baseline = metrics[MODEL][RETRAIN_METRIC], metrics[BASELINE][RETRAIN_METRIC]
        detail = (
            f"{RETRAIN_METRIC} realised since {score_date}: model {model:.3f} vs {BASELINE} {baseline:.3f};"
            " a positive gap recommends retraining"
        )
        checks.append(
            at_most("realised", f"model_trails_baseline:{score_date}", baseline - model, 0.0, detail)
        )
    table = local_frame(spark, rows, schemas.REALISED_VS_PREDICTED) if rows else None
    return table, checks


def run(spark: SparkSession, cfg: Config, as_of: date) -> dict[str, object]:
    lake = Lake.open(spark, cfg.lake)
    checks: list[Check] = []
    if lake.exists("quality_checks"):
        quality = lake.read("quality_checks")
        checks += ingest_checks(
            quality.where(F.col("run_date") == F.lit(as_of)), cfg.ingest.max_quarantine_rate
        )
        checks += freshness_checks(quality, as_of, cfg.monitoring.max_days_without_files)
    checks.append(overdue_purge_check(lake, as_of))
    features = lake.read_partition("customer_features", as_of)
    feature_dates, score_dates = (
        partition_dates(lake, "customer_features"),
        partition_dates(lake, "clv_scores"),
    )
    previous_snapshot = previous_date(feature_dates, as_of)
    previous_rows = (
        lake.read_partition("customer_features", previous_snapshot).count() if previous_snapshot else None
    )
    feature_results, feature_rows = feature_checks(
        features, list(schemas.FEATURE_COLUMNS), previous_rows, cfg.monitoring.max_customer_change
    )
    scores = lake.read_partition("clv_scores", as_of)
    checks += feature_results + score_checks(scores, feature_rows)

    registry.configure(cfg.mlflow)
    version = registry.scoring_version(cfg.mlflow)
    reference_snapshot = date.fromisoformat(registry.run_params(cfg.mlflow, version)["training_snapshot"])
    drift_table, drift_results = drift(
        lake, cfg, features, scores, as_of, reference_snapshot, previous_date(score_dates, as_of)
    )
    realised_table, realised_results = live_accuracy(spark, lake, cfg, as_of, score_dates, feature_dates)
    checks += drift_results + realised_results

    versions = lake.replace_partitions(
        {
            "monitor_checks": lambda: checks_frame(spark, checks, as_of),
            "drift": lambda: drift_table,
            **({"realised_vs_predicted": lambda: realised_table} if realised_table is not None else {}),
        },
        as_of,
    )

    alerts = [alert_record(c, as_of) for c in checks if c.breached]
    registry.configure(cfg.mlflow, f"{cfg.mlflow.experiment}-monitoring")
    with mlflow.start_run(run_name=f"monitor-{as_of.isoformat()}"):
        mlflow.log_params(
            {
                "run_date": as_of.isoformat(),
                "model_version": version,
                "reference_snapshot": reference_snapshot.isoformat(),
            }
        )
        mlflow.log_metrics(
            {"checks": len(checks), "breaches": len(alerts), **{_metric_name(c): c.value for c in checks}}
        )
    if alerts and cfg.monitoring.webhook_url:
        post_alerts(cfg.monitoring.webhook_url, alerts)
    return {
        "model_version": version,
        "checks": len(checks),
        "breaches": len(alerts),
        "alerts": alerts,
        "table_versions": versions,
    }


def _metric_name(check: Check) -> str:
    """MLflow metric names allow letters, digits and _-./ only."""
    return f"{check.stage}.{check.name}".replace(":", ".")
