"""The settings of every job as frozen dataclasses, and the names some of them may take.

`clvlake.config.loader` builds them from YAML; `clvlake.config.validation` checks the rules between fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class SparkSettings:
    """Local-mode session settings (or `remote`: a Spark Connect server). Under spark-submit or Databricks the
    cluster's settings win."""

    master: str
    app_name: str
    shuffle_partitions: int
    driver_memory: str
    extra: dict[str, str] = field(default_factory=dict)
    remote: str = ""  # a Spark Connect server, sc://host:port (else SPARK_REMOTE): the jobs run there


@dataclass(frozen=True)
class LakeSettings:
    """Where the lake and the landing area live (local paths, or s3a:/abfss:/dbfs: URIs).

    `schema` set (and optionally `catalog`): catalog mode, every table is also named `catalog.schema.table` in the
    session's catalog (Unity Catalog on Databricks; locally Spark's own, kept in a metastore under the root) and
    jobs address it by that name; its files stay under `root`. Unset: tables by path only.
    """

    root: str
    landing: str
    lease_wait_minutes: float = (
        60.0  # a writing job waits this long for another one to finish (`clvlake.lease`)
    )
    catalog: str = ""  # catalog mode's catalog; empty: the session's current catalog
    schema: str = ""  # catalog mode's schema (database); empty: path mode


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

    salt: str = field(repr=False)  # never in a printed config or a log line
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
    `transaction_sources`: mapping files (conf/sources/*.yml) of plain transactions files loaded into orders.
    `max_id_length`: a row whose customer id or key is longer is quarantined (`id_too_long`)."""

    reporting_currency: str
    business_start: date
    max_quarantine_rate: float
    transaction_sources: list[str] = field(default_factory=list)
    max_id_length: int = 64


@dataclass(frozen=True)
class GbtSettings:
    """The boosted trees of every form: `engine` xgboost (XGBoost's histogram trees, trained in one Spark task per
    worker) or spark (Spark ML's GBT); the same tree parameters for both. `workers`: XGBoost's training tasks,
    each a task slot held at once; 0 (the default): one per `ROWS_PER_WORKER` training rows, at most the session's
    default parallelism (`modeling.regressor.resolved_workers`)."""

    max_iter: int
    max_depth: int
    step_size: float
    subsampling_rate: float
    engine: str = "xgboost"
    workers: int = 0


@dataclass(frozen=True)
class BtydSettings:
    """BG/NBD + Gamma-Gamma fit: t_x and T rounded to whole `unit_days`, mean value to `monetary_digits`;
    `as_features`: its outputs at each snapshot are inputs of the regressor (`schemas.BTYD_FEATURES`); `blend`: the
    regressor's prediction is blended with its value, the weight fitted on calibration customers
    (`modeling/blend.py`)."""

    unit_days: int
    monetary_digits: int
    as_features: bool = False
    blend: bool = True


# The regressor forms `model.forms` may list; clvlake.modeling.regressor implements each (and checks so on import).
# Named here, not there, so that reading a config never imports pyspark.ml.
MODEL_FORMS = ("raw", "log1p", "hurdle")
TREE_ENGINES = ("xgboost", "spark")
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
    """Tiers, lifecycle rules and the action matrix; `discount_rate`: annual rate of the discounted values (0: no
    discounting); `horizons_days`: the horizons of the BG/NBD predictions in `clv_horizons`."""

    tiers: list[TierRule]
    lifecycle: LifecycleRules
    actions: list[ActionRow]
    discount_rate: float = 0.0
    horizons_days: list[int] = field(default_factory=lambda: [90, 180, 365])


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
    inputs whose drift is reported but never alerts (age-like ones grow as the customer base ages), the most
    days a source may go without a new landing file (per source name, `default` for the others; none: no
    freshness check), and an optional webhook that receives the alerts as JSON."""

    psi_bins: int
    feature_psi_threshold: float
    prediction_psi_threshold: float
    max_customer_change: float
    drift_report_only: list[str] = field(default_factory=list)
    max_days_without_files: dict[str, int] = field(default_factory=dict)
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
