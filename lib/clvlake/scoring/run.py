"""The score job: the scoring model (champion, else latest) over `customer_features` at the as-of date."""

from __future__ import annotations

import logging
from datetime import date

import mlflow
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.config import Config
from clvlake.frames import computed_once, release
from clvlake.lake import Lake
from clvlake.modeling import registry
from clvlake.modeling.btyd import BtydModel, with_btyd_features
from clvlake.modeling.conformal import Conformal
from clvlake.modeling.regressor import predict_clv
from clvlake.scoring.horizons import discounted, horizon_rows
from clvlake.scoring.lifecycle import lifecycle_stage, recommended_action
from clvlake.scoring.tiers import tier_thresholds, value_tier

log = logging.getLogger(__name__)


def model_btyd(params: dict[str, str]) -> BtydModel | None:
    """The BG/NBD + Gamma-Gamma fit the model was trained with; None for a model registered without one."""
    return BtydModel.from_params(params) if "btyd_r" in params else None


def with_uncertainty(predicted: DataFrame, params: dict[str, str]) -> DataFrame:
    """clv_lower/clv_upper from the model's conformal calibration (null for models registered without one),
    p_alive/expected_orders from its BTYD inputs."""
    if "conformal_quantile" in params:
        conformal = Conformal(
            float(params["conformal_level"]),
            float(params["conformal_quantile"]),
            float(params["conformal_scale"]),
        )
        predicted = predicted.withColumns(
            {
                "clv_lower": conformal.lower(F.col("predicted_clv")),
                "clv_upper": conformal.upper(F.col("predicted_clv")),
            }
        )
    else:
        predicted = predicted.withColumns({c: F.lit(None).cast("double") for c in ("clv_lower", "clv_upper")})
    return predicted.withColumnsRenamed(
        {"btyd_p_alive": "p_alive", "btyd_expected_orders": "expected_orders"}
    )


def predictions(features: DataFrame, model, cfg: Config, params: dict[str, str]) -> DataFrame:
    """Each customer's features with `predicted_clv`, its interval, P(alive) and expected orders. The model reads
    the features and the BTYD inputs of its own fit."""
    inputs = with_btyd_features(features, model_btyd(params), cfg.model.horizon_days)
    return with_uncertainty(
        predict_clv(model, inputs).withColumnRenamed("prediction", "predicted_clv"), params
    )


def scores(
    predicted: DataFrame, cfg: Config, model_version: str, input_versions: dict[str, int]
) -> DataFrame:
    """`clv_scores` rows from `predictions`: prediction, interval, P(alive), expected orders, tier, lifecycle
    stage, recommended action and provenance per customer. `predicted` is read twice (the tiers' thresholds, then
    the rows): pass it computed once."""
    thresholds = tier_thresholds(predicted, cfg.scoring.tiers)
    versions = F.create_map(
        *[x for name, v in sorted(input_versions.items()) for x in (F.lit(name), F.lit(v))]
    )
    segmented = predicted.withColumns(
        {
            "value_tier": value_tier(F.col("predicted_clv"), cfg.scoring.tiers, thresholds),
            "lifecycle_stage": lifecycle_stage(cfg.scoring.lifecycle),
        }
    )
    action = recommended_action(cfg.scoring.actions, F.col("value_tier"), F.col("lifecycle_stage"))
    return segmented.select(
        "customer_key",
        F.col("snapshot_date").alias("score_date"),
        "predicted_clv",
        "clv_lower",
        "clv_upper",
        "p_alive",
        "expected_orders",
        "value_tier",
        "lifecycle_stage",
        action.alias("recommended_action"),
        F.lit(cfg.mlflow.model_name).alias("model_name"),
        F.lit(model_version).alias("model_version"),
        F.col("snapshot_date").alias("feature_snapshot_date"),
        F.lit(cfg.model.horizon_days).alias("horizon_days"),
        versions.alias("input_table_versions"),
        discounted(F.col("predicted_clv"), cfg.model.horizon_days, cfg.scoring.discount_rate).alias(
            "discounted_clv"
        ),
        F.lit(cfg.scoring.discount_rate).alias("discount_rate"),
    )


def horizons(features: DataFrame, cfg: Config, model_version: str, params: dict[str, str]) -> DataFrame:
    """`clv_horizons` rows from the model's BG/NBD + Gamma-Gamma fit; none for a model registered without one."""
    btyd = model_btyd(params)
    if btyd is None:
        log.info("clv_horizons: the model has no BG/NBD fit, so no horizon predictions")
        return features.sparkSession.createDataFrame([], schemas.CLV_HORIZONS)
    return horizon_rows(
        features,
        btyd,
        cfg.scoring.horizons_days,
        cfg.scoring.discount_rate,
        model_version,
    )


def run(spark: SparkSession, cfg: Config, as_of: date) -> dict[str, object]:
    lake = Lake.open(spark, cfg.lake)
    features = lake.read_partition("customer_features", as_of)
    input_versions = {"customer_features": lake.version("customer_features")}
    registry.configure(cfg.mlflow)
    version = registry.scoring_version(cfg.mlflow)
    model = mlflow.spark.load_model(f"models:/{cfg.mlflow.model_name}/{version}")
    params = registry.run_params(cfg.mlflow, version)
    log.info("scoring with %s version %s", cfg.mlflow.model_name, version)
    # the trees run in Python workers: once, not once for the thresholds and again for the rows
    predicted = computed_once(predictions(features, model, cfg, params))
    try:
        # at once: neither table reads the other (the scores' builder computes the tiers' quantiles first)
        versions = lake.replace_partitions(
            {
                "clv_scores": lambda: scores(predicted, cfg, version, input_versions),
                "clv_horizons": lambda: horizons(features, cfg, version, params),
            },
            as_of,
        )
    finally:
        release(predicted)
    return {
        "model_version": version,
        "rows": lake.read_partition("clv_scores", as_of).count(),
        "table_versions": {**versions, **input_versions},
    }
