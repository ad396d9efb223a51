"""The CLV regressor as one Spark ML Pipeline: assemble the feature columns, then gradient-boosted trees."""

from __future__ import annotations

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import GBTRegressor
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clvlake.config import GbtSettings
from clvlake.schemas import FEATURE_COLUMNS


def clv_pipeline(params: GbtSettings, seed: int) -> Pipeline:
    assembler = VectorAssembler(inputCols=list(FEATURE_COLUMNS), outputCol="features", handleInvalid="error")
    gbt = GBTRegressor(
        featuresCol="features",
        labelCol="label",
        predictionCol="raw_prediction",
        maxIter=params.max_iter,
        maxDepth=params.max_depth,
        stepSize=params.step_size,
        subsamplingRate=params.subsampling_rate,
        seed=seed,
    )
    return Pipeline(stages=[assembler, gbt])


def predict_clv(model: PipelineModel, features: DataFrame) -> DataFrame:
    """`prediction`: the model's value, floored at zero (a customer cannot be worth less than nothing to us)."""
    return (
        model.transform(features)
        .withColumn("prediction", F.greatest(F.col("raw_prediction"), F.lit(0.0)))
        .drop("features", "raw_prediction")
    )
