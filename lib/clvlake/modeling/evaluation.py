"""The evaluation engine behind `clv train` and `clv backtest`: every candidate regressor form and every baseline,
fitted on training customers and compared on the same evaluation rows.

An evaluation fits at one snapshot and predicts the evaluation rows: held-out customers of the same snapshot
("customers") or of a later one ("time_<training snapshot>"). The regressor fits on the training customers of
that snapshot and of the snapshots pooled with it; BG/NBD + Gamma-Gamma and the formula baselines fit on that
snapshot alone, as they are defined. The evaluation rows get their BTYD inputs from the fit at the training
snapshot, as scoring later gets them from the fit the model was trained with. A share of the training customers
is kept out of the fit to calibrate the split-conformal interval, on their rows at the snapshot. Where no time
evaluation can choose the form (`clv backtest`), those calibration customers choose it: they are held out of the
fit too, and are not the evaluation rows it is then reported on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import date

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.config import GbtSettings, ModelSettings
from clvlake.frames import computed_once, local_frame, release, union_all
from clvlake.lake import Lake
from clvlake.modeling.baselines import (
    BASELINES,
    BTYD,
    BTYD_FAMILY,
    FORMULAS,
    FormulaInputs,
    retention_rate,
    with_formula_baselines,
)
from clvlake.modeling.blend import BtydBlendModel, fit_blend
from clvlake.modeling.btyd import BtydModel, family_clv, with_btyd_features
from clvlake.modeling.conformal import Conformal, calibrate, coverage
from clvlake.modeling.dataset import is_holdout
from clvlake.modeling.metrics import evaluate, evaluate_groups, score_metric
from clvlake.modeling.regressor import clv_pipeline, predict_clv, resolved_workers
from clvlake.parallel import each_at_once
from clvlake.schemas import BTYD_VALUE

log = logging.getLogger(__name__)


def method_name(form: str) -> str:
    return f"gbt_{form}"


@dataclass(frozen=True)
class FittedForm:
    form: str
    model: PipelineModel
    gbt: GbtSettings  # the regressor's settings it was fitted with, XGBoost's workers resolved
    conformal: Conformal
    blend: BtydBlendModel | None  # the model's last stage when it is blended with BG/NBD + Gamma-Gamma
    # every metric of its (blended) predictions for the calibration customers, when the form is chosen on them
    calibration_metrics: dict[str, float] | None = None


SELECTION, REPORT = "selection", "report"  # what an evaluation is used for: choosing the form, or reporting
# backtest_metrics' evaluation holding the forms' metrics on their calibration customers (used for selection)
CALIBRATION = "calibration"


@dataclass(frozen=True)
class Evaluation:
    name: str
    training_snapshot: date
    snapshot: date
    train: DataFrame  # training rows at training_snapshot and the snapshots pooled with it
    rows: DataFrame
    used_for: str  # SELECTION or REPORT: the form is never chosen on the evaluation it is reported on
    # BG/NBD + Gamma-Gamma fitted at training_snapshot; None: its baselines are left out, its inputs null
    btyd: BtydModel | None

    @property
    def train_at_snapshot(self) -> DataFrame:
        return self.train.where(F.col("snapshot_date") == F.lit(self.training_snapshot))


@dataclass(frozen=True)
class Outcome:
    evaluation: Evaluation
    forms: dict[str, FittedForm]
    metrics: dict[str, dict[str, float]]  # method → metric → value
    predictions: DataFrame  # BACKTEST_PREDICTIONS rows
    deciles: DataFrame  # method, decile, customers, mean_predicted, mean_actual


def fit_forms(
    evaluation: Evaluation, cfg: ModelSettings, horizon_days: int, label: str, score_calibration: bool = False
) -> dict[str, FittedForm]:
    """Each candidate form fitted on the training rows (of any pooled snapshot) of all but the conformal
    calibration share of customers. On that share's rows at the training snapshot the form is blended with the
    evaluation's BG/NBD + Gamma-Gamma (where `cfg.btyd.blend` and there is a fit), its interval calibrated and,
    with `score_calibration`, its metrics measured (to choose the form on). A line per form (`label`: what the
    fits are for). When XGBoost trains in one task, the forms are fitted at once: each fit then uses one core."""
    calibration = is_holdout(F.col("customer_key"), cfg.conformal_fraction, cfg.seed + 1)
    at_snapshot = F.col("snapshot_date") == F.lit(evaluation.training_snapshot)
    train = evaluation.train
    fit_rows = train.where(~calibration)
    cfg = replace(cfg, gbt=resolved_workers(cfg.gbt, fit_rows))  # the settings every form is fitted with
    if cfg.gbt.workers > 1:
        log.info("%s: XGBoost trains in %d tasks (model.gbt.workers)", label, cfg.gbt.workers)
    # BG/NBD's expected orders run in Python workers: computed once for every form
    calibration_rows = computed_once(
        with_btyd_features(train.where(calibration & at_snapshot), evaluation.btyd, horizon_days)
    )
    blend = cfg.btyd.blend and evaluation.btyd is not None

    def fit_form(numbered: tuple[int, str]) -> FittedForm:
        number, form = numbered
        started = time.monotonic()
        model = clv_pipeline(cfg.gbt, cfg.seed, form, cfg.btyd.as_features).fit(fit_rows)
        fit = calibrated(form, model, calibration_rows, blend, cfg, score_calibration)
        log.info(
            "%s: form %d of %d (%s) fitted%s and calibrated in %.0f s",
            label,
            number,
            len(cfg.forms),
            form,
            f", blended with BG/NBD + Gamma-Gamma at weight {fit.blend.weight:.2f}" if fit.blend else "",
            time.monotonic() - started,
        )
        return fit

    at_once = len(cfg.forms) if cfg.gbt.workers == 1 else 1  # distributed fits each take every core already
    try:
        fits = each_at_once(fit_form, list(enumerate(cfg.forms, start=1)), at_once, "forms")
    finally:
        release(calibration_rows)
    return dict(zip(cfg.forms, fits, strict=True))


def calibrated(
    form: str, model: PipelineModel, rows: DataFrame, blend: bool, cfg: ModelSettings, score: bool
) -> FittedForm:
    """A fitted form (`model`, fitted with `cfg.gbt`)'s predictions on the calibration `rows`: its blend with
    BG/NBD + Gamma-Gamma fitted (with `blend`), its interval calibrated and, with `score`, its metrics measured."""
    # predicting is the costly part (the trees run in Python workers): once, for the blend and the interval
    predicted = computed_once(predict_clv(model, rows).select("label", "prediction", BTYD_VALUE))
    try:
        blender = fit_blend(predicted) if blend else None
        blended = predicted
        if blender is not None:
            model = PipelineModel(stages=[*model.stages, blender])
            blended = predicted.withColumn(
                "prediction", blender.blended(F.col("prediction"), F.col(BTYD_VALUE))
            )
        return FittedForm(
            form,
            model,
            cfg.gbt,
            calibrate(blended, cfg.conformal_level),
            blender,
            evaluate(blended) if score else None,
        )
    finally:
        release(predicted)


def baselines(btyd: BtydModel | None) -> list[str]:
    """The baselines of an evaluation: the formulas, and the BTYD models fitted (none without a BG/NBD fit)."""
    fitted = {BTYD} if btyd is not None else set()
    fitted |= {method for name, method in BTYD_FAMILY.items() if btyd is not None and getattr(btyd, name)}
    return [b for b in BASELINES if b in FORMULAS or b in fitted]


def wide_predictions(
    rows: DataFrame, forms: dict[str, FittedForm], btyd: BtydModel | None, inputs: FormulaInputs
) -> DataFrame:
    """Evaluation rows with their BTYD inputs from `btyd` and one prediction column per method (and interval
    columns per form); without a BG/NBD fit, the BTYD inputs and BG/NBD's prediction are null."""
    family = family_clv(btyd, inputs.horizon_days) if btyd else {}
    wide = (
        with_formula_baselines(with_btyd_features(rows, btyd, inputs.horizon_days), inputs)
        .withColumn(BTYD, F.col(BTYD_VALUE))
        .withColumns({BTYD_FAMILY[name]: value for name, value in family.items()})
    )
    for form, fitted in forms.items():
        name = method_name(form)
        wide = predict_clv(fitted.model, wide).withColumnRenamed("prediction", name)
        wide = wide.withColumns(
            {
                f"{name}_lower": fitted.conformal.lower(F.col(name)),
                f"{name}_upper": fitted.conformal.upper(F.col(name)),
            }
        )
    return wide


def long_predictions(
    wide: DataFrame, forms: list[str], baseline_methods: list[str], discrepancy_factor: float
) -> DataFrame:
    """One row per customer and method; `discrepant` where it and BG/NBD + Gamma-Gamma differ by the factor
    (false without a BG/NBD fit)."""
    methods = [*(method_name(f) for f in forms), *baseline_methods]
    interval = {method_name(f) for f in forms}
    entries = F.array(
        *[
            F.struct(
                F.lit(m).alias("method"),
                F.col(m).alias("predicted"),
                (F.col(f"{m}_lower") if m in interval else F.lit(None).cast("double")).alias("lower"),
                (F.col(f"{m}_upper") if m in interval else F.lit(None).cast("double")).alias("upper"),
            )
            for m in methods
        ]
    )
    high = F.greatest("predicted", BTYD) + 1
    low = F.greatest(F.least("predicted", BTYD), F.lit(0.0)) + 1
    return (
        wide.select(
            "customer_key",
            F.col("label").alias("actual"),
            F.col("btyd_p_alive").alias("p_alive"),
            BTYD,
            F.explode(entries).alias("m"),
        )
        .select("customer_key", "actual", "p_alive", BTYD, "m.*")
        .withColumn("discrepant", F.coalesce(high / low > F.lit(discrepancy_factor), F.lit(False)))
        .drop(BTYD)
    )


def best_on_calibration(forms: dict[str, FittedForm], metric: str) -> str:
    """The form whose predictions for the calibration customers score best on `metric` (forms fitted with
    `score_calibration`)."""
    return max(forms, key=lambda form: score_metric(metric, forms[form].calibration_metrics[metric]))


def run_evaluation(
    evaluation: Evaluation, cfg: ModelSettings, horizon_days: int, score_calibration: bool = False
) -> Outcome:
    """Fit every form and baseline on `evaluation.train`, predict and score `evaluation.rows` (and, with
    `score_calibration`, each form's calibration customers: see `fit_forms`)."""
    log.info("backtest %s: fitting on snapshot %s", evaluation.name, evaluation.training_snapshot)
    forms = fit_forms(evaluation, cfg, horizon_days, f"backtest {evaluation.name}", score_calibration)
    btyd = evaluation.btyd
    inputs = FormulaInputs(retention_rate(evaluation.train_at_snapshot), cfg.formula_margin, horizon_days)
    wide = wide_predictions(evaluation.rows, forms, btyd, inputs)
    predictions = long_predictions(wide, cfg.forms, baselines(btyd), cfg.discrepancy_factor).withColumns(
        {
            "snapshot_date": F.lit(evaluation.snapshot),
            "evaluation": F.lit(evaluation.name),
            "training_snapshot": F.lit(evaluation.training_snapshot),
        }
    )
    predictions = computed_once(predictions)  # the metrics' jobs then carry no models in their tasks
    by_method, deciles = evaluate_groups(predictions, "method", "actual", "predicted")
    metrics = {method: by_method[method] for method in [*map(method_name, cfg.forms), *baselines(btyd)]}
    for form in cfg.forms:
        rows = predictions.where(F.col("method") == F.lit(method_name(form)))
        metrics[method_name(form)]["coverage"] = coverage(rows, "actual", "lower", "upper")
    for method, values in metrics.items():
        log.debug(
            "backtest %s %s: %s",
            evaluation.name,
            method,
            ", ".join(f"{k}={v:.4f}" for k, v in values.items()),
        )
    best = max(metrics, key=lambda method: metrics[method]["normalised_gini"])
    log.info(
        "backtest %s: %d methods scored; the best ranking: %s (normalised Gini %.3f)",
        evaluation.name,
        len(metrics),
        best,
        metrics[best]["normalised_gini"],
    )
    return Outcome(evaluation, forms, metrics, predictions, deciles)


def write_outcomes(lake: Lake, outcomes: list[Outcome], partition: date) -> dict[str, int]:
    """Replace `partition` of backtest_predictions and backtest_metrics with the outcomes' rows (the two tables
    at once), then free the outcomes' predictions; returns the tables' new versions."""
    try:
        return lake.replace_partitions(
            {
                "backtest_predictions": lambda: union_all([o.predictions for o in outcomes]),
                "backtest_metrics": lambda: metric_rows(lake.spark, outcomes),
            },
            partition,
        )
    finally:
        for o in outcomes:
            release(o.predictions)


def metric_rows(spark: SparkSession, outcomes: list[Outcome]) -> DataFrame:
    """BACKTEST_METRICS rows: scalar metrics (decile null) and the decile calibration tables; the forms' metrics
    on their calibration customers, where measured, as the evaluation CALIBRATION (at the training snapshot, used
    for selection)."""
    scalar = [
        (
            o.evaluation.snapshot,
            o.evaluation.name,
            o.evaluation.training_snapshot,
            method,
            metric,
            None,
            value,
            o.evaluation.used_for,
        )
        for o in outcomes
        for method, values in o.metrics.items()
        for metric, value in values.items()
    ]
    scalar += [
        (
            o.evaluation.training_snapshot,
            CALIBRATION,
            o.evaluation.training_snapshot,
            method_name(form),
            metric,
            None,
            value,
            SELECTION,
        )
        for o in outcomes
        for form, fitted in o.forms.items()
        for metric, value in (fitted.calibration_metrics or {}).items()
    ]
    frame = local_frame(spark, scalar, schemas.BACKTEST_METRICS)
    for o in outcomes:
        e = o.evaluation
        frame = frame.unionByName(
            o.deciles.select(
                F.lit(e.snapshot).alias("snapshot_date"),
                F.lit(e.name).alias("evaluation"),
                F.lit(e.training_snapshot).alias("training_snapshot"),
                "method",
                F.explode(
                    F.array(
                        *[
                            F.struct(F.lit(m).alias("metric"), F.col(m).cast("double").alias("value"))
                            for m in ("customers", "mean_predicted", "mean_actual")
                        ]
                    )
                ).alias("kv"),
                "decile",
            ).select(
                "snapshot_date",
                "evaluation",
                "training_snapshot",
                "method",
                "kv.metric",
                "decile",
                "kv.value",
                F.lit(e.used_for).alias("used_for"),
            )
        )
    return frame
