"""XGBoost's Spark estimators, trained in one ordinary Spark task when they have one worker.

`xgboost.spark` trains in a barrier stage and synchronises its workers three times per fit (two `barrier()`s and an
`allGather`). Spark's `BarrierTaskContext` answers each of those calls only after a whole second of sleep (it polls
the coordinator's reply with `Thread.sleep(1000)`), so every fit paid three seconds of waiting: on the demo's 18,000
training rows a fit took 3.0 s, of which XGBoost's own training 0.3 s. With one worker (`model.gbt.workers: 1`, and
the automatic default below 500,000 training rows: `regressor.resolved_workers`) there is nothing to synchronise:
these estimators build the same DMatrix with XGBoost's own function and run the same training in one plain task
(0.8 s), and return the model XGBoost's estimator returns (the same booster: tests/modeling/test_one_task.py).
With more workers they are XGBoost's estimators unchanged.

They use a few of `xgboost.spark`'s internals (the input preparation, parameters and model conversion its own `_fit`
uses), present in the pinned versions (pyproject.toml).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from xgboost.config import config_context
from xgboost.sklearn import _can_use_qdm
from xgboost.spark import SparkXGBClassifier, SparkXGBRegressor
from xgboost.spark.data import create_dmatrix_from_partitions
from xgboost.spark.summary import XGBoostTrainingSummary
from xgboost.training import train

_RESULT_SCHEMA = "evals string, config string, booster string"


class _OneTaskFit:
    """Overrides `_fit` of an `xgboost.spark` estimator: one worker trains in a plain task."""

    def _fit(self, dataset: DataFrame):
        if self.getOrDefault(self.num_workers) != 1 or self._run_on_gpu():
            return super()._fit(dataset)
        self._validate_params()
        dataset, feature_prop = self._prepare_input(dataset)  # the columns it reads, in one partition
        booster_params, train_kwargs, dmatrix_kwargs = self._get_xgb_parameters(dataset)
        use_qdm = _can_use_qdm(booster_params.get("tree_method"), booster_params.get("device"))
        if use_qdm and booster_params.get("max_bin") is not None:
            dmatrix_kwargs["max_bin"] = booster_params["max_bin"]

        def train_booster(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            with config_context(verbosity=booster_params.get("verbosity", 1)):
                dtrain, dvalid = create_dmatrix_from_partitions(
                    iterator=batches,
                    feature_cols=feature_prop.features_cols_names,
                    dev_ordinal=None,
                    use_qdm=use_qdm,
                    kwargs=dmatrix_kwargs,
                    enable_sparse_data_optim=feature_prop.enable_sparse_data_optim,
                    has_validation_col=feature_prop.has_validation_col,
                )
                evals = [(dtrain, "training"), *([(dvalid, "validation")] if dvalid is not None else [])]
                evals_result: dict = {}
                booster = train(
                    params=booster_params,
                    dtrain=dtrain,
                    evals=evals,
                    evals_result=evals_result,
                    **train_kwargs,
                )
            yield pd.DataFrame(
                {
                    "evals": [json.dumps(evals_result)],
                    "config": [booster.save_config()],
                    "booster": [booster.save_raw("json").decode("utf-8")],
                }
            )

        (result,) = dataset.mapInPandas(train_booster, _RESULT_SCHEMA).collect()  # one row: the model
        model = self._convert_to_sklearn_model(bytearray(result["booster"], "utf-8"), result["config"])
        summary = XGBoostTrainingSummary.from_metrics(json.loads(result["evals"]))
        fitted = self._create_pyspark_model(model, summary)
        fitted._resetUid(self.uid)  # as XGBoost's own `_fit`: the model takes the estimator's uid and params
        return self._copyValues(fitted)


class OneTaskXGBRegressor(_OneTaskFit, SparkXGBRegressor):
    """`SparkXGBRegressor`, trained in one plain task when it has one worker."""


class OneTaskXGBClassifier(_OneTaskFit, SparkXGBClassifier):
    """`SparkXGBClassifier`, trained in one plain task when it has one worker."""
