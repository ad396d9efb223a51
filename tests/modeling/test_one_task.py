"""XGBoost trained in one plain task gives the model XGBoost's own (barrier-stage) fit gives."""

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import functions as F
from xgboost.spark import SparkXGBClassifier, SparkXGBRegressor

from clvlake.modeling.one_task import OneTaskXGBClassifier, OneTaskXGBRegressor

TREES = {"n_estimators": 5, "max_depth": 3, "learning_rate": 0.3, "subsample": 0.8, "random_state": 7}


@pytest.fixture(scope="module")
def rows(spark):
    """300 rows in three partitions: two features, a value driven by them, whether it is positive, a weight."""
    rng = np.random.default_rng(11)
    data = [
        (i, float(a), float(b), float(3 * a - b + rng.normal()), float(i % 4 + 1))
        for i, (a, b) in enumerate(rng.normal(size=(300, 2)))
    ]
    frame = spark.createDataFrame(data, ["id", "a", "b", "value", "weight"]).repartition(3)
    assembled = VectorAssembler(inputCols=["a", "b"], outputCol="features").transform(frame)
    return assembled.withColumn("positive", (F.col("value") > 0).cast("double")).cache()


def predictions(model, rows, column):
    return model.transform(rows).select("id", column).orderBy("id")


@pytest.mark.parametrize(
    ("ours", "theirs", "params", "column"),
    [
        (
            OneTaskXGBRegressor,
            SparkXGBRegressor,
            {"label_col": "value", "weight_col": "weight"},
            "prediction",
        ),
        (OneTaskXGBClassifier, SparkXGBClassifier, {"label_col": "positive"}, "probability"),
    ],
)
def test_one_task_fit_equals_xgboosts_barrier_fit(rows, ours, theirs, params, column):
    settings = {**TREES, **params, "features_col": "features", "num_workers": 1}
    estimator = ours(**settings, force_repartition=True)
    mine = estimator.fit(rows)
    reference = theirs(**settings).fit(rows)

    # the model class XGBoost's estimator returns: it saves and loads alike
    assert type(mine) is type(reference)
    assert mine.uid == estimator.uid and mine.getOrDefault("n_estimators") == 5
    assert_df_equality(predictions(mine, rows, column), predictions(reference, rows, column))
    assert mine.get_booster().save_raw("json") == reference.get_booster().save_raw("json")
