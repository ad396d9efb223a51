"""The CLV regressor as one Spark ML Pipeline, in three forms chosen by backtest.

* `raw`: gradient-boosted trees on the label.
* `log1p`: trees on log(1 + max(label, 0)), predictions mapped back with expm1.
* `hurdle`: P(buys in the horizon) from a boosted-tree classifier × spend given buying from a boosted-tree
  regressor trained on the buyers only (a zero instance weight for the others).

The trees are XGBoost's (`xgboost.spark`: histogram trees trained in one Spark task per worker, without
XGBoost's barrier stage when there is one worker (`one_task`), predicting in Pandas UDFs on the executors) or
Spark ML's GBT (`model.gbt.engine`); on the demo's training sets XGBoost fits a form several times faster and
predicts held-out customers better (docs/model.md).

Every form ends with a total calibration stage: one factor, learnt on the training rows, that makes the sum of
(floored) predictions equal the sum of labels. It removes the retransformation bias of the log form (a
smearing estimate) and is ≈ 1 for the others. The custom stages are `DefaultParamsReadable/Writable`, so the
fitted `PipelineModel` saves and loads (and round-trips through MLflow) like a built-in one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from pyspark import keyword_only
from pyspark.ml import Estimator, Model, Pipeline, PipelineModel, Transformer
from pyspark.ml.classification import GBTClassifier
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.regression import GBTRegressor
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clvlake.config import MODEL_FORMS, GbtSettings
from clvlake.modeling.one_task import OneTaskXGBClassifier, OneTaskXGBRegressor
from clvlake.schemas import BTYD_FEATURES, FEATURE_COLUMNS

FORMS = MODEL_FORMS
LABEL = "label"
# automatic XGBoost workers: one training task per this many rows. Measured at the two ends: the demo's 18,000 rows
# fit in 0.8 s in one plain task, where more workers' barrier alone waits 3 s; a hurdle fit of 1.67 million rows
# on 2 cores took 47 s in two tasks, 54–59 s in one. The threshold between them is a judgement, not a measurement.
ROWS_PER_WORKER = 500_000
_TARGET, _WEIGHT, _PART, _SPEND, _UNCALIBRATED = "_target", "_weight", "_part", "_spend", "_uncalibrated"


class _Persistable(DefaultParamsReadable, DefaultParamsWritable):
    pass


def model_inputs(btyd_features: bool) -> list[str]:
    """The columns a regressor reads: the numeric features, and the BTYD ones where `btyd_features`."""
    return [*FEATURE_COLUMNS, *(BTYD_FEATURES if btyd_features else ())]


class FillMissing(Transformer, _Persistable):
    """Missing input values (e.g. a satisfaction mean of customers who never rated, every engagement feature of a
    transactions-only lake, the BTYD inputs of a snapshot without a fit) become 0, so the assembler never meets
    a null."""

    def _transform(self, df: DataFrame) -> DataFrame:
        return df.fillna(0, subset=[c for c in model_inputs(btyd_features=True) if c in df.columns])


class _FormTransformer(Transformer, _Persistable):
    """A transformer whose behaviour depends on the model form (raw, log1p or hurdle)."""

    form = Param(Params._dummy(), "form", ", ".join(FORMS), typeConverter=TypeConverters.toString)

    @keyword_only
    def __init__(self, form: str = "raw"):
        super().__init__()
        self._set(**self._input_kwargs)


class TargetColumns(_FormTransformer):
    """Adds the training target of a form (`_target`, and `_weight` for the hurdle spend) when `label` exists;
    scoring data (no label) passes through unchanged."""

    def _transform(self, df: DataFrame) -> DataFrame:
        if LABEL not in df.columns:
            return df
        return df.withColumns(_IMPLEMENTATIONS[self.getOrDefault(self.form)].targets(F.col(LABEL)))


class CombineParts(_FormTransformer):
    """`_uncalibrated` from the form's model outputs: expm1 of the log prediction, or P(buy) × spend."""

    def _transform(self, df: DataFrame) -> DataFrame:
        value = _IMPLEMENTATIONS[self.getOrDefault(self.form)].combine()
        return df.withColumn(_UNCALIBRATED, F.greatest(value, F.lit(0.0)))


class TotalCalibrationModel(Model, _Persistable):
    """`raw_prediction` = `_uncalibrated` × factor."""

    factor = Param(
        Params._dummy(), "factor", "total calibration factor", typeConverter=TypeConverters.toFloat
    )

    @keyword_only
    def __init__(self, factor: float = 1.0):
        super().__init__()
        self._set(**self._input_kwargs)

    def _transform(self, df: DataFrame) -> DataFrame:
        factor = self.getOrDefault(self.factor)
        return df.withColumn("raw_prediction", F.col(_UNCALIBRATED) * F.lit(factor)).drop(
            _UNCALIBRATED, _PART, _SPEND, "_p_buy", "_p_raw", "_p_class", _TARGET, _WEIGHT
        )


class TotalCalibration(Estimator, _Persistable):
    """Learns the factor sum(label) ÷ sum(prediction) on the training rows of their latest snapshot_date (all
    rows when there is no such column): a fit pooling several snapshots is scaled to the most recent level.
    The factor is 1 when either sum is not positive."""

    def _fit(self, df: DataFrame) -> TotalCalibrationModel:
        if "snapshot_date" in df.columns:
            df = df.where(F.col("snapshot_date") == F.lit(df.agg(F.max("snapshot_date")).first()[0]))
        row = df.agg(F.sum(LABEL).alias("actual"), F.sum(_UNCALIBRATED).alias("predicted")).first()
        ok = row["actual"] and row["predicted"] and row["actual"] > 0 and row["predicted"] > 0
        return TotalCalibrationModel(factor=float(row["actual"] / row["predicted"]) if ok else 1.0)


@dataclass(frozen=True)
class _Trees:
    """Builds the boosted-tree estimators of a form with the configured engine (`GbtSettings.engine`): the same
    tree parameters, each engine's own names. Both read the assembled `features` vector."""

    params: GbtSettings
    seed: int

    def regressor(self, label: str, prediction: str, weight: str | None = None) -> Estimator:
        p = self.params
        if p.engine == "spark":
            weighted = {"weightCol": weight} if weight else {}
            return GBTRegressor(**self._spark(), labelCol=label, predictionCol=prediction, **weighted)
        weighted = {"weight_col": weight} if weight else {}
        return OneTaskXGBRegressor(**self._xgboost(), label_col=label, prediction_col=prediction, **weighted)

    def classifier(self, label: str, probability: str) -> Estimator:
        """P(label = 1) as a two-element vector in `probability`."""
        if self.params.engine == "spark":
            return (
                GBTClassifier(**self._spark(), labelCol=label, predictionCol="_p_class")
                .setProbabilityCol(probability)
                .setRawPredictionCol("_p_raw")
            )
        return OneTaskXGBClassifier(
            **self._xgboost(),
            label_col=label,
            prediction_col="_p_class",
            probability_col=probability,
            raw_prediction_col="_p_raw",
        )

    def _spark(self) -> dict[str, object]:
        return {"featuresCol": "features", "seed": self.seed, **self._tree_parameters()}

    def _xgboost(self) -> dict[str, object]:
        return {
            "features_col": "features",
            "random_state": self.seed,
            "num_workers": self.params.workers,
            # into num_workers partitions without asking the data's partition count first (XGBoost's check
            # converts the DataFrame to an RDD, which runs its shuffles once more)
            "force_repartition": True,
            "verbose": False,  # no line per tree on the executors' stderr
            **self._tree_parameters(),
        }

    def _tree_parameters(self) -> dict[str, object]:
        """The shared `GbtSettings` under the engine's own names."""
        names = _PARAMETER_NAMES[self.params.engine]
        return {names[field]: getattr(self.params, field) for field in names}


# GbtSettings field → each engine's name for it
_PARAMETER_NAMES = {
    "spark": {
        "max_iter": "maxIter",
        "max_depth": "maxDepth",
        "step_size": "stepSize",
        "subsampling_rate": "subsamplingRate",
    },
    "xgboost": {
        "max_iter": "n_estimators",
        "max_depth": "max_depth",
        "step_size": "learning_rate",
        "subsampling_rate": "subsample",
    },
}


def _one_model(trees: _Trees) -> list[Estimator]:
    return [trees.regressor(_TARGET, _PART)]


def _hurdle_models(trees: _Trees) -> list[Estimator]:
    return [trees.classifier(_TARGET, "_p_buy"), trees.regressor(LABEL, _SPEND, weight=_WEIGHT)]


def _buyer_targets(label: Column) -> dict[str, Column]:
    buyer = (label > 0).cast("double")
    return {_TARGET: buyer, _WEIGHT: buyer}


@dataclass(frozen=True)
class _Form:
    """One model form: its training targets from the label, the boosted trees it fits and the expression that
    combines their outputs into `_uncalibrated` (before the floor at zero)."""

    targets: Callable[[Column], dict[str, Column]]
    models: Callable[[_Trees], list[Estimator]]
    combine: Callable[[], Column]


_IMPLEMENTATIONS = {
    "raw": _Form(targets=lambda label: {_TARGET: label}, models=_one_model, combine=lambda: F.col(_PART)),
    "log1p": _Form(
        targets=lambda label: {_TARGET: F.log1p(F.greatest(label, F.lit(0.0)))},
        models=_one_model,
        combine=lambda: F.expm1(F.col(_PART)),
    ),
    "hurdle": _Form(
        targets=_buyer_targets,
        models=_hurdle_models,
        combine=lambda: vector_to_array(F.col("_p_buy"))[1] * F.greatest(F.col(_SPEND), F.lit(0.0)),
    ),
}
if sorted(_IMPLEMENTATIONS) != sorted(FORMS):
    raise RuntimeError(
        f"clvlake.modeling.regressor implements forms {sorted(_IMPLEMENTATIONS)}, "
        f"but clvlake.config.MODEL_FORMS names {sorted(FORMS)}"
    )


def resolved_workers(params: GbtSettings, rows: DataFrame) -> GbtSettings:
    """`params` with XGBoost's `workers` as set, or for 0 (automatic) one per `ROWS_PER_WORKER` of the training
    `rows` (counted: pass cached rows), at least one and at most the session's default parallelism."""
    if params.workers or params.engine != "xgboost":
        return params
    slots = rows.sparkSession.sparkContext.defaultParallelism
    return replace(params, workers=max(1, min(slots, math.ceil(rows.count() / ROWS_PER_WORKER))))


def clv_pipeline(params: GbtSettings, seed: int, form: str = "raw", btyd_features: bool = False) -> Pipeline:
    """Fill missing → assembler → target → boosted trees → combine → total calibration, for one of `FORMS`;
    the trees read `model_inputs(btyd_features)`. XGBoost's workers resolved (`resolved_workers`)."""
    if form not in FORMS:
        raise ValueError(f"unknown model form {form!r}; expected one of {FORMS}")
    if params.engine == "xgboost" and params.workers < 1:
        raise ValueError("XGBoost's workers are automatic (0): resolve them for the training rows first")
    models = _IMPLEMENTATIONS[form].models(_Trees(params, seed))
    return Pipeline(
        stages=[
            FillMissing(),
            VectorAssembler(
                inputCols=model_inputs(btyd_features), outputCol="features", handleInvalid="error"
            ),
            TargetColumns(form=form),
            *models,
            CombineParts(form=form),
            TotalCalibration(),
        ]
    )


def predict_clv(model: PipelineModel, features: DataFrame) -> DataFrame:
    """`features` with `prediction`: the model's value, floored at zero (a customer cannot be worth less than
    nothing to us). The input columns come back as they were: the model's fill of missing values (`FillMissing`)
    is its own, so a null P(alive) stays null downstream."""
    inputs = [c for c in model_inputs(btyd_features=True) if c in features.columns]
    kept = {c: f"_input_{c}" for c in inputs}
    return (
        model.transform(features.withColumns({copy: F.col(c) for c, copy in kept.items()}))
        .withColumns({c: F.col(copy) for c, copy in kept.items()})
        .withColumn("prediction", F.greatest(F.col("raw_prediction"), F.lit(0.0)))
        .drop("features", "raw_prediction", *kept.values())
    )
