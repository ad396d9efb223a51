"""The train job: training set at c = as_of − H (labels end at as_of), fit, evaluate on held-out customers,
log everything to MLflow and register the model."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from datetime import date, timedelta

import mlflow
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from clvlake import __version__
from clvlake.config import Config
from clvlake.errors import InputError
from clvlake.features.build import build_features
from clvlake.features.run import lake_value_events
from clvlake.lake import Lake
from clvlake.modeling import registry
from clvlake.modeling.dataset import training_set
from clvlake.modeling.metrics import evaluate
from clvlake.modeling.regressor import clv_pipeline, predict_clv
from clvlake.schemas import FEATURE_COLUMNS

log = logging.getLogger(__name__)
MODEL_REQUIREMENTS = ["pyspark==4.0.1", f"clvlake=={__version__}"]


def training_snapshot(as_of: date, horizon_days: int) -> date:
    """The latest snapshot whose whole label window [c, c + H) lies before the as-of date."""
    return as_of - timedelta(days=horizon_days)


def run(spark: SparkSession, cfg: Config, as_of: date) -> dict[str, object]:
    lake = Lake(spark, cfg.lake.root)
    horizon, model_cfg = cfg.model.horizon_days, cfg.model
    snapshot = training_snapshot(as_of, horizon)
    events = lake_value_events(lake, model_cfg.margin_mode)
    features = build_features(events, lake.read("customers"), snapshot)
    data = training_set(features, events, snapshot, horizon, model_cfg.holdout_fraction, model_cfg.seed)
    data_version = lake.replace_partition(data, "training_sets", snapshot)
    data = lake.read("training_sets").where(F.col("snapshot_date") == F.lit(snapshot))
    counts = data.groupBy("is_holdout").count().collect()  # two rows
    sizes = {row["is_holdout"]: row["count"] for row in counts}
    if not sizes.get(False) or not sizes.get(True):
        raise InputError(
            f"not enough customers before the training snapshot {snapshot} (as-of {as_of} − "
            f"{horizon} days) to train and evaluate: the data must start well before it"
        )

    log.info(
        "training on %d customers at snapshot %s, evaluating on %d held out",
        sizes[False],
        snapshot,
        sizes[True],
    )
    model = clv_pipeline(model_cfg.gbt, model_cfg.seed).fit(data.where(~F.col("is_holdout")))
    metrics = evaluate(predict_clv(model, data.where(F.col("is_holdout"))))
    log.info("holdout metrics: %s", ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

    registry.configure(cfg.mlflow)
    with (
        mlflow.start_run(run_name=f"train-{as_of.isoformat()}") as active,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params(
            {
                "as_of": as_of.isoformat(),
                "training_snapshot": snapshot.isoformat(),
                "horizon_days": horizon,
                "holdout_fraction": model_cfg.holdout_fraction,
                "margin_mode": model_cfg.margin_mode,
                "features": ",".join(FEATURE_COLUMNS),
                "train_customers": sizes[False],
                "holdout_customers": sizes[True],
                "training_sets_version": data_version,
                **{f"gbt_{k}": v for k, v in dataclasses.asdict(model_cfg.gbt).items()},
            }
        )
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
        info = mlflow.spark.log_model(
            model,
            "model",
            registered_model_name=cfg.mlflow.model_name,
            pip_requirements=MODEL_REQUIREMENTS,
            dfs_tmpdir=tmp,
        )
        run_id = active.info.run_id
    version = str(info.registered_model_version)
    log.info("registered %s version %s (run %s)", cfg.mlflow.model_name, version, run_id)
    return {
        "training_snapshot": snapshot.isoformat(),
        "run_id": run_id,
        "model_version": version,
        "metrics": metrics,
        "table_versions": {"training_sets": data_version},
    }
