"""The rules between config fields that types alone cannot express; each error names the key and the file."""

from __future__ import annotations

import re

from clvlake.config.settings import (
    LIFECYCLE_STAGES,
    MODEL_FORMS,
    MODEL_METRICS,
    TREE_ENGINES,
    Config,
    LakeSettings,
    ModelSettings,
    ScoringSettings,
    SegmentSettings,
)
from clvlake.errors import ConfigError

DEMO_SALT = "local-demo-salt-not-secret"  # conf/local.yml's default: public, for laptop lakes only
URI_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: `C:` is a Windows drive
LOCAL_SCHEMES = ("file",)


def is_local(location: str) -> bool:
    """A local path or a `file:` URI (everything else, s3a:, abfss:, dbfs:, gs:, hdfs: …, is shared)."""
    match = URI_SCHEME.match(location)
    return match is None or match.group(1).lower() in LOCAL_SCHEMES


def local_form(location: str) -> str:
    """A location without its `file:` scheme and trailing slash (other URIs unchanged but for the slash)."""
    for scheme in ("file://", "file:"):
        if location.startswith(scheme):
            return location.removeprefix(scheme).rstrip("/")
    return location.rstrip("/")


def _validate_salt(cfg: Config, source: str) -> None:
    if not cfg.privacy.salt:
        raise ConfigError(f"{source}: key 'privacy.salt' must not be empty: set CLVLAKE_SALT")
    if cfg.privacy.salt == DEMO_SALT and not is_local(cfg.lake.root):
        raise ConfigError(
            f"{source}: key 'privacy.salt' is the public demo salt, which only a local lake may use, and "
            f"'lake.root' is {cfg.lake.root}: set CLVLAKE_SALT to a long random secret (from a secret store)"
        )


IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _validate_catalog(lake: LakeSettings, source: str) -> None:
    if lake.catalog and not lake.schema:
        raise ConfigError(f"{source}: key 'lake.catalog' is set: set 'lake.schema' too (the tables' schema)")
    for key, name in (("catalog", lake.catalog), ("schema", lake.schema)):
        if name and not IDENTIFIER.match(name):
            raise ConfigError(
                f"{source}: key 'lake.{key}' is {name!r}: use letters, digits and underscores only"
            )


def _validate_model(model: ModelSettings, source: str) -> None:
    unknown_forms = sorted(set(model.forms) - set(MODEL_FORMS))
    if not model.forms or unknown_forms:
        raise ConfigError(f"{source}: key 'model.forms' must list some of {', '.join(MODEL_FORMS)}")
    if model.gbt.engine not in TREE_ENGINES or model.gbt.workers < 0:
        raise ConfigError(
            f"{source}: key 'model.gbt.engine' must be one of {', '.join(TREE_ENGINES)} and 'model.gbt.workers' "
            "≥ 0 (0: automatic)"
        )
    for key, metrics in (
        ("selection_metric", [model.selection_metric]),
        ("champion_metrics", model.champion_metrics),
    ):
        if not metrics or set(metrics) - set(MODEL_METRICS):
            raise ConfigError(f"{source}: key 'model.{key}' must name metrics of {', '.join(MODEL_METRICS)}")
    for key, value in (
        ("conformal_level", model.conformal_level),
        ("conformal_fraction", model.conformal_fraction),
    ):
        if not 0 < value < 1:
            raise ConfigError(f"{source}: key 'model.{key}' must be between 0 and 1")
    if min(model.backtest_snapshots, model.backtest_step_days, model.pooled_snapshots) < 1:
        raise ConfigError(
            f"{source}: keys 'model.backtest_snapshots', 'model.backtest_step_days' and "
            "'model.pooled_snapshots' must be ≥ 1"
        )
    if len(model.forms) > 1 and model.backtest_snapshots < 2:
        raise ConfigError(
            f"{source}: key 'model.forms' lists {len(model.forms)} forms, so 'model.backtest_snapshots' must be "
            "≥ 2: the form is selected on the time evaluations, never on the held-out customers it is "
            "reported on (or list one form)"
        )
    if model.discrepancy_factor <= 1 or model.formula_margin <= 0:
        raise ConfigError(
            f"{source}: key 'model.discrepancy_factor' must be > 1 and 'model.formula_margin' positive"
        )
    if model.btyd.unit_days < 1 or not 1 <= model.btyd.monetary_digits <= 15:
        raise ConfigError(
            f"{source}: key 'model.btyd' needs unit_days ≥ 1 and monetary_digits between 1 and 15"
        )


def _validate_scoring(scoring: ScoringSettings, segments: SegmentSettings, source: str) -> None:
    if not 0 <= scoring.discount_rate < 1:
        raise ConfigError(f"{source}: key 'scoring.discount_rate' must be an annual rate in [0, 1)")
    if not scoring.horizons_days or min(scoring.horizons_days) < 1:
        raise ConfigError(f"{source}: key 'scoring.horizons_days' must list horizons of at least one day")
    if not scoring.tiers:
        raise ConfigError(f"{source}: key 'scoring.tiers' needs at least one tier")
    quantiles = [t.min_quantile for t in scoring.tiers]
    if (
        quantiles != sorted(quantiles, reverse=True)
        or quantiles[-1] != 0
        or len(set(quantiles)) != len(quantiles)
    ):
        raise ConfigError(
            f"{source}: key 'scoring.tiers' must list tiers from the top down with strictly "
            f"decreasing min_quantile ending at 0, got {quantiles}"
        )
    from clvlake.schemas import TRAILING_WINDOWS_DAYS

    rules = scoring.lifecycle
    if rules.frequency_window_days not in TRAILING_WINDOWS_DAYS:
        raise ConfigError(
            f"{source}: key 'scoring.lifecycle.frequency_window_days' must be one of the feature windows "
            f"{list(TRAILING_WINDOWS_DAYS)}"
        )
    if not (rules.new_within_days > 0 and 0 < rules.at_risk_after_days < rules.lost_after_days):
        raise ConfigError(
            f"{source}: key 'scoring.lifecycle' needs new_within_days > 0 and "
            "0 < at_risk_after_days < lost_after_days"
        )
    tiers = [t.name for t in scoring.tiers]
    rows = [r.tier for r in scoring.actions]
    if sorted(rows) != sorted(tiers):
        raise ConfigError(
            f"{source}: key 'scoring.actions' needs exactly one row per tier {tiers}, got {rows}"
        )
    known = {a.name for a in segments.actions}
    for row in scoring.actions:
        for stage in LIFECYCLE_STAGES:
            if row.action(stage) not in known:
                raise ConfigError(
                    f"{source}: key 'scoring.actions' ({row.tier}, {stage}) names action "
                    f"'{row.action(stage)}', which 'segments.actions' does not define"
                )


def _validate_segments(segments: SegmentSettings, source: str) -> None:
    for action in segments.actions:
        if action.cost < 0 or not 0 <= action.conversion_rate <= 1 or action.uplift < 0:
            raise ConfigError(
                f"{source}: key 'segments.actions' ({action.name}) needs cost ≥ 0, conversion_rate in "
                "[0, 1] and uplift ≥ 0"
            )
    budget = segments.budget
    if budget.total < 0 or not 0 <= budget.min_share <= budget.max_share <= 1:
        raise ConfigError(
            f"{source}: key 'segments.budget' needs total ≥ 0 and 0 ≤ min_share ≤ max_share ≤ 1"
        )
    for scenario in segments.what_if:
        if scenario.churn_change < -1 or scenario.frequency_change < -1 or scenario.order_value_change < -1:
            raise ConfigError(
                f"{source}: key 'segments.what_if' ({scenario.name}): a change below −1 (−100 %) is impossible"
            )
    unknown = sorted(set(segments.export.formats) - {"parquet", "csv"})
    if unknown:
        raise ConfigError(f"{source}: key 'segments.export.formats' allows parquet and csv, got {unknown}")


def validate(cfg: Config) -> None:
    """Raise ConfigError on the first rule `cfg` breaks."""
    source = cfg.source_file
    from clvlake.schemas import FEATURE_COLUMNS  # pyspark types only; imported here to keep config light

    unknown_inputs = sorted(set(cfg.monitoring.drift_report_only) - set(FEATURE_COLUMNS))
    if unknown_inputs:
        raise ConfigError(
            f"{source}: key 'monitoring.drift_report_only' names unknown model inputs {unknown_inputs}"
        )
    if cfg.lake.lease_wait_minutes < 0:
        raise ConfigError(f"{source}: key 'lake.lease_wait_minutes' must not be negative")
    _validate_catalog(cfg.lake, source)
    if cfg.spark.remote and not cfg.spark.remote.startswith("sc://"):
        raise ConfigError(
            f"{source}: key 'spark.remote' is {cfg.spark.remote!r}: a Spark Connect server is sc://host:port"
        )
    if not 0 <= cfg.ingest.max_quarantine_rate <= 1:
        raise ConfigError(f"{source}: key 'ingest.max_quarantine_rate' must be between 0 and 1")
    if cfg.ingest.max_id_length < 1:
        raise ConfigError(f"{source}: key 'ingest.max_id_length' must be at least 1")
    _validate_salt(cfg, source)
    if cfg.privacy.vacuum_retention_hours < 0:
        raise ConfigError(f"{source}: key 'privacy.vacuum_retention_hours' must not be negative")
    if cfg.model.horizon_days <= 0:
        raise ConfigError(f"{source}: key 'model.horizon_days' must be positive")
    if not 0 < cfg.model.holdout_fraction < 1:
        raise ConfigError(f"{source}: key 'model.holdout_fraction' must be between 0 and 1")
    _validate_model(cfg.model, source)
    _validate_segments(cfg.segments, source)
    _validate_scoring(cfg.scoring, cfg.segments, source)
