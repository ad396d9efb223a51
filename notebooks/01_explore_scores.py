# Databricks notebook source
# MAGIC %md
# MAGIC # clvlake: explore the latest scores
# MAGIC Value tiers, the most valuable customers and the distribution of predicted CLV for one score date.
# MAGIC Runs on Databricks (set the `conf` and `as_of` widgets) or locally:
# MAGIC `CLVLAKE_AS_OF=2026-01-01 .venv/bin/python notebooks/01_explore_scores.py`.

# COMMAND ----------

from datetime import date

from pyspark.sql import functions as F

from clvlake.config import load_config
from clvlake.lake import Lake
from clvlake.notebook import widget
from clvlake.scoring.tiers import tier_summary
from clvlake.session import get_spark

cfg = load_config(widget("conf", "conf/local.yml"))
as_of = date.fromisoformat(widget("as_of", "2026-01-01"))
spark = get_spark(cfg.spark, lake=cfg.lake)
lake = Lake.open(spark, cfg.lake)
scores = lake.read_partition("clv_scores", as_of)

# COMMAND ----------

# MAGIC %md ## Value tiers

# COMMAND ----------

tier_summary(scores, cfg.scoring.tiers).show()

# COMMAND ----------

# MAGIC %md ## The 20 most valuable customers (pseudonymised keys)

# COMMAND ----------

scores.orderBy(F.col("predicted_clv").desc()).select("customer_key", "predicted_clv", "value_tier").show(
    20, False
)

# COMMAND ----------

# MAGIC %md ## Distribution of predicted CLV (deciles)

# COMMAND ----------

deciles = [i / 10 for i in range(1, 10)]
print(dict(zip(deciles, scores.approxQuantile("predicted_clv", deciles, 0.001), strict=True)))
