"""The train job: training sets at c0 = as_of − H and earlier snapshots, a backtest of every candidate form and
baseline, the best form registered in MLflow, and the `champion` alias moved only when it wins.

Evaluations (all on customers held out by hash at c0): "customers" fits at c0; "time_<c_k>" fits at an earlier
snapshot c_k = c0 − k · step and predicts c0. A fit at c pools the training customers of c and of the
`model.pooled_snapshots − 1` snapshots before it, `step` apart. The form trained is the best on
`model.selection_metric` averaged over the time evaluations only (`used_for` = selection in backtest_metrics);
only that form is then fitted at c0, registered, and compared with the current champion and the baselines on
the "customers" evaluation (`used_for` = report), which played no part in choosing it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from datetime import date, timedelta

import mlflow
from pyspark.errors import AnalysisException, IllegalArgumentException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clvlake import __version__
from clvlake.config import Config, ModelSettings
from clvlake.errors import InputError
from clvlake.features.inputs import features_at, lake_value_events
from clvlake.frames import computed_once, release
from clvlake.lake import Lake
from clvlake.modeling import registry
from clvlake.modeling.btyd import BtydModel, with_btyd_features
from clvlake.modeling.champion import Decision, decide
from clvlake.modeling.dataset import (
    pooled_snapshots,
    pooled_training_rows,
    training_sets,
    with_btyd_inputs,
)
from clvlake.modeling.evaluation import (
    REPORT,
    SELECTION,
    Evaluation,
    FittedForm,
    Outcome,
    baselines,
    method_name,
    run_evaluation,
    write_outcomes,
)
from clvlake.modeling.metrics import evaluate, score_metric
from clvlake.modeling.regressor import model_inputs, predict_clv
from clvlake.parallel import all_at_once
from clvlake.schemas import BTYD_VALUE

log = logging.getLogger(__name__)
MODEL_REQUIREMENTS = ["pyspark==4.0.1", f"clvlake=={__version__}"]


def training_snapshot(as_of: date, horizon_days: int) -> date:
    """The latest snapshot whose whole label window [c, c + H) lies before the as-of date."""
    return as_of - timedelta(days=horizon_days)


def training_snapshots(as_of: date, cfg: Config) -> list[date]:
    """The snapshots fitted at: c0 = as_of − H, then `backtest_snapshots − 1` earlier ones, `backtest_step_days`
    apart."""
    c0 = training_snapshot(as_of, cfg.model.horizon_days)
    return pooled_snapshots(c0, cfg.model.backtest_snapshots, cfg.model.backtest_step_days)


def labelled_snapshots(as_of: date, cfg: Config) -> list[date]:
    """Every snapshot with a training set: the snapshots fitted at and the earlier ones their fits pool."""
    model = cfg.model
    count = model.backtest_snapshots + model.pooled_snapshots - 1
    return pooled_snapshots(training_snapshot(as_of, model.horizon_days), count, model.backtest_step_days)


def build_training_sets(
    lake: Lake, cfg: Config, snapshots: list[date], fitted_at: list[date], as_of: date
) -> tuple[DataFrame, dict[date, BtydModel | None], int]:
    """Write the training sets of every snapshot (one commit), read them back, check that the snapshots fitted at
    have customers (`require_customers`) and fit BG/NBD + Gamma-Gamma (`with_btyd_inputs`); returns the rows
    (cached), the fits and the table version. The snapshots' features are computed first, on their own: joined
    to the labels in one query, the whole feature plan went out with every task of the write (over a megabyte,
    which Spark warns of)."""
    model = cfg.model
    events = lake_value_events(lake, model.margin_mode)
    features = computed_once(features_at(lake, cfg, snapshots))
    sets = training_sets(features, events, snapshots, model.horizon_days, model.holdout_fraction, model.seed)
    listed = ", ".join(f"'{s.isoformat()}'" for s in snapshots)
    try:
        version = lake.replace_where(sets, "training_sets", f"snapshot_date IN ({listed})")
    finally:
        release(features)
    written = lake.read("training_sets").where(F.col("snapshot_date").isin(snapshots)).cache()
    require_customers(written, fitted_at, as_of)  # before any fit: a fit of no customers would only warn
    data, fits = with_btyd_inputs(written, snapshots, fitted_at, model.btyd, model.horizon_days)
    return data, fits, version


def holdout_rows(data: DataFrame, c0: date) -> DataFrame:
    """The held-out customers of the first training snapshot c0: every evaluation predicts these."""
    return data.where((F.col("snapshot_date") == F.lit(c0)) & F.col("is_holdout"))


def require_customers(data: DataFrame, snapshots: list[date], as_of: date) -> None:
    """Every snapshot fitted at has training customers, and c0 = snapshots[0] held-out ones, else `InputError`."""
    has_holdout = not holdout_rows(data, snapshots[0]).isEmpty()
    for s in snapshots:
        own = data.where((F.col("snapshot_date") == F.lit(s)) & ~F.col("is_holdout"))
        if not has_holdout or own.isEmpty():
            raise InputError(
                f"not enough customers before the training snapshot {s} (as-of {as_of} − horizon and backtest "
                f"steps) to train and evaluate: the data must start well before it"
            )


def evaluations(
    data: DataFrame, fits: dict[date, BtydModel | None], snapshots: list[date], cfg: Config
) -> list[Evaluation]:
    """One evaluation per snapshot fitted at, each predicting the held-out customers of c0 = snapshots[0]."""
    c0, model = snapshots[0], cfg.model
    holdout = holdout_rows(data, c0)
    return [
        Evaluation(
            "customers" if s == c0 else f"time_{s.isoformat()}",
            s,
            c0,
            pooled_training_rows(data, s, model.pooled_snapshots, model.backtest_step_days),
            holdout,
            REPORT if s == c0 else SELECTION,
            fits[s],
        )
        for s in snapshots
    ]


def best_form(outcomes: list[Outcome], cfg: Config) -> str:
    """The form with the best selection metric averaged over the selection (time) evaluations among `outcomes`;
    the only form when there is one (config validation requires time evaluations for more)."""
    metric = cfg.model.selection_metric
    selection = [o for o in outcomes if o.evaluation.used_for == SELECTION]

    def mean_score(form: str) -> float:
        values = [score_metric(metric, o.metrics[method_name(form)][metric]) for o in selection]
        return sum(values) / len(values)

    return cfg.model.forms[0] if len(cfg.model.forms) == 1 else max(cfg.model.forms, key=mean_score)


def read_columns(fitted: FittedForm, cfg: ModelSettings) -> list[str]:
    """The columns the fitted model reads: its features, and BG/NBD + Gamma-Gamma's value when it is blended."""
    blended = [BTYD_VALUE] if fitted.blend is not None else []
    return list(dict.fromkeys([*model_inputs(cfg.btyd.as_features), *blended]))


def champion_metrics(cfg: Config, rows: DataFrame) -> dict[str, float] | None:
    """The current champion evaluated on `rows`, or None if there is none (or it cannot score these features)."""
    uri = f"models:/{cfg.mlflow.model_name}@{registry.CHAMPION}"
    try:
        model = mlflow.spark.load_model(uri)
    except mlflow.exceptions.MlflowException:
        return None
    try:
        return evaluate(predict_clv(model, rows))
    except (AnalysisException, IllegalArgumentException) as err:
        log.warning("the champion cannot score the current features (%s): it will be replaced", err)
        return None


@dataclasses.dataclass(frozen=True)
class LoggedRun:
    """A training run logged to MLflow: its id, its model (logged, not registered yet), the champion decision and
    the comparison it was decided on (the reported customers' metrics of every method, and the champion's)."""

    run_id: str
    model_uri: str
    decision: Decision
    comparison: dict[str, dict[str, float]]


def log_training_run(
    cfg: Config,
    lake_root: str,
    as_of: date,
    snapshots: list[date],
    data_version: int,
    outcomes: list[Outcome],
    form: str,
) -> LoggedRun:
    """Log the training run to MLflow (params, every evaluation's metrics, the comparison) with the model of `form`
    fitted on the reported evaluation (`outcomes[0]`); decide whether it takes over from the champion. The model
    is not registered and the alias not moved here: `run` does both once the backtest's tables are written."""
    current, model_cfg = outcomes[0], cfg.model
    report, chosen, candidate = current.evaluation, current.forms[form], current.metrics[method_name(form)]
    experiment_id = registry.configure(cfg.mlflow)
    registry.end_abandoned_runs(experiment_id, lake_root)
    # the rows as a model reads them when scoring: with the BTYD inputs of the fit it was trained with
    scored_rows = with_btyd_features(report.rows, report.btyd, model_cfg.horizon_days)
    champion = champion_metrics(cfg, scored_rows)
    rivals = {
        **({"champion": champion} if champion else {}),
        **{b: current.metrics[b] for b in baselines(report.btyd)},
    }
    decision = decide(candidate, rivals, model_cfg.champion_metrics, has_champion=champion is not None)
    comparison = {**current.metrics, **({"champion (current)": champion} if champion else {})}
    with (
        mlflow.start_run(
            run_name=f"train-{as_of.isoformat()}", tags={registry.LAKE_TAG: lake_root}
        ) as active,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params(
            {
                "as_of": as_of.isoformat(),
                "training_snapshot": snapshots[0].isoformat(),
                "backtest_snapshots": ",".join(s.isoformat() for s in snapshots),
                "pooled_snapshots": model_cfg.pooled_snapshots,
                "horizon_days": model_cfg.horizon_days,
                "holdout_fraction": model_cfg.holdout_fraction,
                "margin_mode": model_cfg.margin_mode,
                "form": form,
                "features": ",".join(model_inputs(model_cfg.btyd.as_features)),
                "training_sets_version": data_version,
                "conformal_level": chosen.conformal.level,
                "conformal_quantile": chosen.conformal.quantile,
                "conformal_scale": chosen.conformal.scale,
                **(chosen.blend.as_params() if chosen.blend else {}),
                **(report.btyd.as_params() if report.btyd else {}),
                **{f"gbt_{k}": v for k, v in dataclasses.asdict(chosen.gbt).items()},  # workers resolved
            }
        )
        mlflow.log_metrics({f"holdout_{k}": v for k, v in candidate.items()})
        mlflow.log_metrics(
            {
                f"{o.evaluation.name}_{method}_{k}": v
                for o in outcomes
                for method, values in o.metrics.items()
                for k, v in values.items()
            }
        )
        mlflow.log_text(json.dumps(comparison, indent=1), "comparison.json")
        mlflow.set_tags({"champion_moved": str(decision.moved), "champion_reason": decision.reason})
        info = mlflow.spark.log_model(
            chosen.model,
            "model",
            signature=registry.model_signature(
                scored_rows.select(read_columns(chosen, model_cfg)).schema, "raw_prediction"
            ),
            pip_requirements=MODEL_REQUIREMENTS,
            dfs_tmpdir=tmp,
        )
    return LoggedRun(active.info.run_id, info.model_uri, decision, comparison)


def run(spark: SparkSession, cfg: Config, as_of: date) -> dict[str, object]:
    lake = Lake.open(spark, cfg.lake)
    model_cfg = cfg.model
    snapshots = training_snapshots(as_of, cfg)
    data, fits, data_version = build_training_sets(
        lake, cfg, labelled_snapshots(as_of, cfg), snapshots, as_of
    )
    report, *selection = evaluations(data, fits, snapshots, cfg)
    # every form on the time evaluations; on the reported customers only the form they selected
    selected = [run_evaluation(e, model_cfg, model_cfg.horizon_days) for e in selection]
    form = best_form(selected, cfg)
    current = run_evaluation(report, dataclasses.replace(model_cfg, forms=[form]), model_cfg.horizon_days)
    outcomes = [current, *selected]
    chosen = current.forms[form]
    candidate = current.metrics[method_name(form)]

    # the backtest's tables are written while MLflow logs the run and its model: neither reads what the other
    # writes; the model becomes a registered version (and maybe the champion) only once both are done, so a
    # training whose tables fail to write leaves no version for scoring to pick up
    written, logged = all_at_once(
        [
            lambda: write_outcomes(lake, outcomes, snapshots[0]),
            lambda: log_training_run(cfg, lake.root, as_of, snapshots, data_version, outcomes, form),
        ],
        "train",
    )
    version = registry.register(cfg.mlflow, logged.model_uri)
    if logged.decision.moved:
        registry.set_champion(cfg.mlflow, version)
    data.unpersist()
    log.info(
        "registered %s version %s (run %s); %s",
        cfg.mlflow.model_name,
        version,
        logged.run_id,
        logged.decision.reason,
    )
    return {
        "training_snapshot": snapshots[0].isoformat(),
        "run_id": logged.run_id,
        "model_version": version,
        "form": form,
        "blend_weight": chosen.blend.weight if chosen.blend else None,
        "selected_on": [o.evaluation.name for o in selected] if len(model_cfg.forms) > 1 else [],
        "metrics": candidate,
        "comparison": logged.comparison,
        "champion_moved": logged.decision.moved,
        "champion_reason": logged.decision.reason,
        "table_versions": {"training_sets": data_version, **written},
    }
