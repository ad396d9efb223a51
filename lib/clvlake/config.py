"""Typed configuration loaded from YAML, validated with errors that name the key and the file.

`${VAR}` and `${VAR:-default}` in string values are replaced from the environment, so secrets (the
pseudonymisation salt) and per-environment paths stay out of the files. Relative local paths are resolved
against the current directory, so every job, Spark and MLflow agree on one absolute location.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from clvlake.errors import ConfigError

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class SparkSettings:
    """Local-mode session settings. Under spark-submit or Databricks the cluster's settings win."""

    master: str
    app_name: str
    shuffle_partitions: int
    driver_memory: str
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LakeSettings:
    """Where the lake and the landing area live (local paths, or s3a:/abfss:/dbfs: URIs)."""

    root: str
    landing: str


@dataclass(frozen=True)
class MlflowSettings:
    tracking_uri: str
    registry_uri: str
    artifact_root: str
    experiment: str
    model_name: str


@dataclass(frozen=True)
class PrivacySettings:
    """`salt` keys the customer_key hash; keep it secret (set it from the environment on real lakes).

    `vacuum_retention_hours`: the VACUUM retention `clv erase` applies after deleting a subject.
    """

    salt: str
    vacuum_retention_hours: float


@dataclass(frozen=True)
class GeneratorSettings:
    """Synthetic data for the demo: written into `lake.landing`, the oracle into `oracle_dir`."""

    oracle_dir: str
    start: date
    end: date


@dataclass(frozen=True)
class IngestSettings:
    """`max_quarantine_rate`: share of a source's rows in quarantine above which ingest stops (exit 2).
    `transaction_sources`: mapping files (conf/sources/*.yml) of plain transactions files loaded into orders."""

    reporting_currency: str
    business_start: date
    max_quarantine_rate: float
    transaction_sources: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GbtSettings:
    max_iter: int
    max_depth: int
    step_size: float
    subsampling_rate: float


@dataclass(frozen=True)
class BtydSettings:
    """BG/NBD + Gamma-Gamma fit: t_x and T rounded to whole `unit_days`, mean value to `monetary_digits`."""

    unit_days: int
    monetary_digits: int


MODEL_FORMS = ("raw", "log1p", "hurdle")
MODEL_METRICS = ("rmse", "mae", "spearman", "normalised_gini", "top_decile_capture", "total_ratio")


@dataclass(frozen=True)
class ModelSettings:
    """Label = net value in [c, c + horizon_days); margin_mode subtracts cost of goods and shipping.

    `forms` are the candidate regressors, the best by `selection_metric` over the backtest is trained;
    `champion_metrics` must all improve on the champion and every baseline for the alias to move.
    """

    horizon_days: int
    holdout_fraction: float
    seed: int
    margin_mode: bool
    gbt: GbtSettings
    forms: list[str]
    selection_metric: str
    champion_metrics: list[str]
    backtest_snapshots: int
    backtest_step_days: int
    pooled_snapshots: int  # a fit pools the training customers of its snapshot and this many − 1 earlier ones
    conformal_level: float
    conformal_fraction: float
    discrepancy_factor: float
    formula_margin: float
    btyd: BtydSettings


@dataclass(frozen=True)
class TierRule:
    """A value tier holds customers whose predicted CLV is above its `min_quantile` quantile (0 = everyone left)."""

    name: str
    min_quantile: float


LIFECYCLE_STAGES = ("prospect", "new", "active", "loyal", "at_risk", "lost")


@dataclass(frozen=True)
class LifecycleRules:
    """Lifecycle stage at the score date; the first matching rule wins, in this order:

    prospect (never bought) → lost (no purchase for `lost_after_days`) → new (first purchase less than
    `new_within_days` ago) → at_risk (no purchase for `at_risk_after_days`, or orders in the last
    `frequency_window_days` below `at_risk_frequency_ratio` × the customer's own usual rate) → loyal (at least
    `loyal_min_orders_365d` orders in the last 365 days) → active.
    """

    new_within_days: int
    at_risk_after_days: int
    lost_after_days: int
    frequency_window_days: int
    at_risk_frequency_ratio: float
    loyal_min_orders_365d: int


@dataclass(frozen=True)
class ActionRow:
    """The recommended action for each lifecycle stage of one value tier (a row of the tier × stage matrix)."""

    tier: str
    prospect: str
    new: str
    active: str
    loyal: str
    at_risk: str
    lost: str

    def action(self, stage: str) -> str:
        return getattr(self, stage)


@dataclass(frozen=True)
class ScoringSettings:
    tiers: list[TierRule]
    lifecycle: LifecycleRules
    actions: list[ActionRow]


@dataclass(frozen=True)
class ActionSpec:
    """A marketing action: cost per customer contacted, and the planning assumptions of the marketer: the
    share of contacted customers expected to respond (`conversion_rate`) and the relative CLV gain of one who
    does (`uplift`). Expected incremental value per contacted customer = conversion_rate × uplift × CLV."""

    name: str
    cost: float
    conversion_rate: float
    uplift: float


@dataclass(frozen=True)
class BudgetSettings:
    """`total` split across segments in proportion to expected incremental value, each segment's share of
    it kept within [min_share, max_share]."""

    total: float
    min_share: float
    max_share: float


@dataclass(frozen=True)
class Scenario:
    """A what-if: relative changes of churn probability, purchase frequency and order value (−0.05 = −5 %)."""

    name: str
    churn_change: float = 0.0
    frequency_change: float = 0.0
    order_value_change: float = 0.0


@dataclass(frozen=True)
class ExportSettings:
    """The campaign export for CRM tools: file formats (parquet, csv) under `<lake>/exports/campaign/`."""

    formats: list[str]
    consented_only: bool  # only customers whose latest record gives marketing consent


@dataclass(frozen=True)
class SegmentSettings:
    """`clv report`: segment tables, campaign export and the HTML report (written under `report_dir`)."""

    actions: list[ActionSpec]
    budget: BudgetSettings
    what_if: list[Scenario]
    export: ExportSettings
    report_dir: str


@dataclass(frozen=True)
class MonitoringSettings:
    """`clv monitor`: PSI bins and thresholds, the largest tolerated change in customers between snapshots,
    inputs whose drift is reported but never alerts (age-like ones grow as the customer base ages), and an
    optional webhook that receives the alerts as JSON."""

    psi_bins: int
    feature_psi_threshold: float
    prediction_psi_threshold: float
    max_customer_change: float
    drift_report_only: list[str] = field(default_factory=list)
    webhook_url: str = ""


@dataclass(frozen=True)
class Config:
    spark: SparkSettings
    lake: LakeSettings
    mlflow: MlflowSettings
    privacy: PrivacySettings
    generator: GeneratorSettings
    ingest: IngestSettings
    model: ModelSettings
    scoring: ScoringSettings
    segments: SegmentSettings
    monitoring: MonitoringSettings
    source_file: str = "<memory>"


def expand_env(text: str) -> str:
    """Replace `${VAR}` / `${VAR:-default}`; an unset variable without a default is an error."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"environment variable {name} is not set and has no default")
            return default
        return value

    return _ENV_PATTERN.sub(substitute, text)


def absolute_location(location: str) -> str:
    """A local path made absolute; URIs (s3a:, abfss:, dbfs:, file:, sqlite:) are returned unchanged."""
    if _URI_SCHEME.match(location):
        return location
    return str(Path(location).expanduser().resolve())


def _convert(value: Any, hint: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key, source)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: key '{key}' must be a list, got {value!r}")
        (item_hint,) = typing.get_args(hint)
        return [_convert(item, item_hint, f"{key}[{i}]", source) for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: key '{key}' must be a mapping, got {value!r}")
        return {str(k): _expand(str(v), key, source) for k, v in value.items()}
    if hint is date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(_expand(str(value), key, source))
        except ValueError:
            raise ConfigError(f"{source}: key '{key}' must be a date YYYY-MM-DD, got {value!r}") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: key '{key}' must be true or false, got {value!r}")
        return value
    if hint in (int, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (hint is int and value != int(value))
        ):
            raise ConfigError(
                f"{source}: key '{key}' must be a{'n integer' if hint is int else ' number'}, got {value!r}"
            )
        return hint(value)
    if hint is str:
        if isinstance(value, (dict, list)) or value is None:
            raise ConfigError(f"{source}: key '{key}' must be a string, got {value!r}")
        return _expand(str(value), key, source)
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def _expand(text: str, key: str, source: str) -> str:
    try:
        return expand_env(text)
    except ConfigError as err:
        raise ConfigError(f"{source}: key '{key}': {err}") from None


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{prefix or '<top level>'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source_file"}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"{source}: unknown key '{where}' (allowed here: {', '.join(sorted(fields))})")
    values = {}
    for name, spec in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            if spec.default is not dataclasses.MISSING or spec.default_factory is not dataclasses.MISSING:
                continue
            raise ConfigError(f"{source}: missing key '{key}'")
        values[name] = _convert(data[name], hints[name], key, source)
    return cls(**values)


def _resolve_locations(cfg: Config) -> Config:
    return dataclasses.replace(
        cfg,
        lake=LakeSettings(root=absolute_location(cfg.lake.root), landing=absolute_location(cfg.lake.landing)),
        mlflow=dataclasses.replace(cfg.mlflow, artifact_root=absolute_location(cfg.mlflow.artifact_root)),
        generator=dataclasses.replace(cfg.generator, oracle_dir=absolute_location(cfg.generator.oracle_dir)),
        segments=dataclasses.replace(cfg.segments, report_dir=absolute_location(cfg.segments.report_dir)),
    )


def _validate_model(model: ModelSettings, source: str) -> None:
    unknown_forms = sorted(set(model.forms) - set(MODEL_FORMS))
    if not model.forms or unknown_forms:
        raise ConfigError(f"{source}: key 'model.forms' must list some of {', '.join(MODEL_FORMS)}")
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
    if model.discrepancy_factor <= 1 or model.formula_margin <= 0:
        raise ConfigError(
            f"{source}: key 'model.discrepancy_factor' must be > 1 and 'model.formula_margin' positive"
        )
    if model.btyd.unit_days < 1 or not 1 <= model.btyd.monetary_digits <= 15:
        raise ConfigError(
            f"{source}: key 'model.btyd' needs unit_days ≥ 1 and monetary_digits between 1 and 15"
        )


def _validate_scoring(scoring: ScoringSettings, segments: SegmentSettings, source: str) -> None:
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


def _validate(cfg: Config) -> None:
    source = cfg.source_file
    from clvlake.schemas import FEATURE_COLUMNS  # pyspark types only; imported here to keep config light

    unknown_inputs = sorted(set(cfg.monitoring.drift_report_only) - set(FEATURE_COLUMNS))
    if unknown_inputs:
        raise ConfigError(
            f"{source}: key 'monitoring.drift_report_only' names unknown model inputs {unknown_inputs}"
        )
    if not 0 <= cfg.ingest.max_quarantine_rate <= 1:
        raise ConfigError(f"{source}: key 'ingest.max_quarantine_rate' must be between 0 and 1")
    if cfg.privacy.vacuum_retention_hours < 0:
        raise ConfigError(f"{source}: key 'privacy.vacuum_retention_hours' must not be negative")
    if cfg.model.horizon_days <= 0:
        raise ConfigError(f"{source}: key 'model.horizon_days' must be positive")
    if not 0 < cfg.model.holdout_fraction < 1:
        raise ConfigError(f"{source}: key 'model.holdout_fraction' must be between 0 and 1")
    _validate_model(cfg.model, source)
    _validate_segments(cfg.segments, source)
    _validate_scoring(cfg.scoring, cfg.segments, source)


def config_from_dict(data: dict[str, Any], source: str = "<memory>") -> Config:
    """Build and validate a Config from already-parsed YAML (tests use this with temporary paths)."""
    cfg = dataclasses.replace(_build(Config, data, "", source), source_file=source)
    _validate(cfg)
    return _resolve_locations(cfg)


def _read_yaml(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    try:
        return yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}: not valid YAML: {err}") from None


def load_config(path: str | Path) -> Config:
    """Read a YAML config file; every problem names the key and the file."""
    return config_from_dict(_read_yaml(Path(path)), str(path))


def load_dataclass(cls: type, path: str | Path) -> Any:
    """Read a YAML file into dataclass `cls` with the config's checks (e.g. conf/sources/*.yml mappings)."""
    return _build(cls, _read_yaml(Path(path)), "", str(path))
