# Databricks notebook source
# MAGIC %md
# MAGIC # clvlake: features and training runs
# MAGIC What the model sees (the feature table at a snapshot) and how the registered models performed (MLflow).

# COMMAND ----------

from datetime import date

import mlflow

from clvlake.config import load_config
from clvlake.lake import Lake
from clvlake.modeling import registry
from clvlake.notebook import widget
from clvlake.schemas import FEATURE_COLUMNS
from clvlake.session import get_spark

cfg = load_config(widget("conf", "conf/local.yml"))
snapshot = date.fromisoformat(widget("snapshot", "2026-01-01"))
spark = get_spark(cfg.spark, lake=cfg.lake)
features = Lake.open(spark, cfg.lake).read_partition("customer_features", snapshot)

# COMMAND ----------

# MAGIC %md ## Feature summary at the snapshot

# COMMAND ----------

features.select(*FEATURE_COLUMNS[:8]).summary("count", "mean", "min", "50%", "max").show(truncate=False)

# COMMAND ----------

# MAGIC %md ## Training runs and their held-out metrics

# COMMAND ----------

registry.configure(cfg.mlflow)
runs = mlflow.search_runs(experiment_names=[cfg.mlflow.experiment], order_by=["start_time DESC"])
print(runs.filter(regex=r"^(run_id|start_time|params\.training_snapshot|metrics\.)").head(10).to_string())
