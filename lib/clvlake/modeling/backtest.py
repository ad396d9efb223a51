"""The `clv backtest` job: fit every model form and baseline at a given calibration end, label the held-out
customers up to a holdout end, and write the predictions and metrics of each method (see `evaluation.py`). With
several forms, the one `clv train` would register is chosen on the calibration customers (held out of the fit),
never on the held-out customers it is reported on."""

from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from clvlake.config import Config
from clvlake.errors import InputError
from clvlake.features.inputs import features_at, lake_value_events
from clvlake.lake import Lake
from clvlake.modeling.dataset import (
    pooled_snapshots,
    pooled_training_rows,
    training_sets,
    with_btyd_inputs,
)
from clvlake.modeling.evaluation import (
    REPORT,
    Evaluation,
    best_on_calibration,
    method_name,
    run_evaluation,
    write_outcomes,
)


def run(spark: SparkSession, cfg: Config, calibration_end: date, holdout_end: date) -> dict[str, object]:
    """`clv backtest`: features at the calibration end, label = net value until the holdout end; fit on the
    training customers (pooled with their earlier snapshots, each labelled over the same horizon), write
    predictions and metrics of every method for the held-out customers."""
    if holdout_end <= calibration_end:
        raise InputError(f"--holdout-end {holdout_end} must be after --calibration-end {calibration_end}")
    lake = Lake.open(spark, cfg.lake)
    horizon, model = (holdout_end - calibration_end).days, cfg.model
    events = lake_value_events(lake, model.margin_mode)
    snapshots = pooled_snapshots(calibration_end, model.pooled_snapshots, model.backtest_step_days)
    # computed once, lineage cut: every fit and check reads these rows, not the feature query behind them
    sets = training_sets(
        features_at(lake, cfg, snapshots), events, snapshots, horizon, model.holdout_fraction, model.seed
    ).localCheckpoint()
    at_calibration_end = F.col("snapshot_date") == F.lit(calibration_end)
    training, held_out = at_calibration_end & ~F.col("is_holdout"), at_calibration_end & F.col("is_holdout")
    if sets.where(training).isEmpty() or sets.where(held_out).isEmpty():
        raise InputError(
            f"no customers with events before --calibration-end {calibration_end} to backtest on"
        )
    data, fits = with_btyd_inputs(sets, snapshots, [calibration_end], model.btyd, horizon)
    evaluation = Evaluation(
        "customers",
        calibration_end,
        calibration_end,
        pooled_training_rows(data, calibration_end, model.pooled_snapshots, model.backtest_step_days),
        data.where(held_out),
        REPORT,
        fits[calibration_end],
    )
    choose = len(model.forms) > 1
    outcome = run_evaluation(evaluation, model, horizon, score_calibration=choose)
    selected = best_on_calibration(outcome.forms, model.selection_metric) if choose else model.forms[0]
    versions = write_outcomes(lake, [outcome], calibration_end)
    return {
        "calibration_end": calibration_end.isoformat(),
        "holdout_end": holdout_end.isoformat(),
        "horizon_days": horizon,
        "selected": method_name(selected),
        "selected_on": "calibration customers" if choose else None,  # None: the only form
        "selection_metric": model.selection_metric,
        "metrics": outcome.metrics,
        "btyd": evaluation.btyd.as_params() if evaluation.btyd else None,
        "table_versions": versions,
    }
