"""A transactions-only lake (orders and nothing else): `clv backtest`, and every other job."""

import threading
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.cli import main
from clvlake.config import load_config
from clvlake.errors import ConflictError
from clvlake.lake import Lake
from clvlake.modeling import evaluation, train
from clvlake.modeling.baselines import BASELINES, FORMULAS
from clvlake.modeling.evaluation import CALIBRATION, SELECTION, calibrated, method_name
from clvlake.modeling.train import log_training_run
from tests.support.config import REPO, write_config

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "conf" / "sources" / "transactions_example.yml"
RUN_DATE = date(2025, 1, 1)

MODEL = {
    "forms": ["raw"],
    "pooled_snapshots": 2,
    "gbt": {"max_iter": 3, "max_depth": 2, "step_size": 0.5, "subsampling_rate": 1.0},
}


def purchases(customers: int = 150, dropout: bool = True) -> list[tuple[int, int, datetime, Decimal]]:
    """BG/NBD-like buyers: gamma-distributed purchase rates, a beta-distributed dropout chance per purchase (or
    none: everyone keeps buying to the end of the year). (customer, purchase number, timestamp, amount) rows."""
    rng = np.random.default_rng(11)
    rows, start = [], datetime(2024, 1, 1)
    for c in range(customers):
        rate, dropout_chance = rng.gamma(1.0, 1 / 30), rng.beta(1.0, 3.0) if dropout else 0.0
        day, n = float(rng.integers(0, 200)), 0
        while day < 365:
            rows.append((c, n, start + timedelta(days=int(day)), Decimal(f"{rng.uniform(5, 80):.2f}")))
            if rng.random() < dropout_chance:
                break
            day, n = day + rng.exponential(1 / rate), n + 1
    return rows


def transactions(spark, customers: int = 150, dropout: bool = True):
    """`purchases` as silver orders rows."""
    zero = Decimal("0")
    rows = [
        (f"o{c}-{n}", f"k{c}", ts, None, "EUR", amount, zero, zero, zero, 1, None, ts.date(), "f", "r")
        for c, n, ts, amount in purchases(customers, dropout)
    ]
    return spark.createDataFrame(rows, schemas.ORDERS)


@pytest.fixture(scope="module")
def mapped_lake(spark, tmp_path_factory):
    """A landing area with one plain transactions file and none of the six sources, through `clv pipeline`."""
    root = tmp_path_factory.mktemp("mapped")
    model = {**MODEL, "forms": ["raw", "log1p"], "horizon_days": 120, "backtest_step_days": 30}
    conf = write_config(root, model=model, ingest={"transaction_sources": [str(EXAMPLE)]})
    pos = root / "landing" / "pos"
    pos.mkdir(parents=True)
    lines = [f"k{c}  {ts:%d.%m.%Y}  {amount}  1" for c, _, ts, amount in purchases()]
    (pos / "pos_2024.txt").write_text("kunde  datum  betrag  stueck\n" + "\n".join(lines) + "\n")
    assert main(["pipeline", "--conf", str(conf), "--as-of", RUN_DATE.isoformat()]) == 0
    return conf, Lake(spark, load_config(conf).lake.root), len({line.split()[0] for line in lines})


def test_every_job_runs_on_a_lake_of_mapped_transactions_only(mapped_lake):
    """ingest, features, train, score, report (the pipeline) and monitor; the optional sources read as empty."""
    conf, lake, customers = mapped_lake
    assert lake.read_partition("clv_scores", RUN_DATE).count() == customers
    horizons = lake.read_partition("clv_horizons", RUN_DATE)  # 90, 180 and 365 days by default, undiscounted
    per_horizon = sorted(tuple(r) for r in horizons.groupBy("horizon_days").count().collect())
    assert per_horizon == [(h, customers) for h in (90, 180, 365)]
    assert horizons.where(F.col("discounted_value") != F.col("expected_value")).isEmpty()
    assert not any(lake.exists(t) for t in ("refunds", "customers", "sessions", "email_events"))
    assert lake.read_partition("segment_summary", RUN_DATE).count() > 0
    code = main(["monitor", "--conf", str(conf), "--as-of", RUN_DATE.isoformat()])
    checks = lake.read_partition("monitor_checks", RUN_DATE)
    assert checks.count() > 0
    assert code == (2 if checks.where("breached").count() else 0)  # exit 2 exactly when a check breached


def test_train_selects_on_the_time_evaluation_and_fits_only_that_form_for_the_reported_customers(mapped_lake):
    _, lake, _ = mapped_lake
    c0 = RUN_DATE - timedelta(days=120)
    rows = (
        lake.read_partition("backtest_metrics", c0)
        .where("metric = 'normalised_gini' AND decile IS NULL AND method LIKE 'gbt_%'")
        .collect()
    )
    gini = {(r["evaluation"], r["used_for"], r["method"]): r["value"] for r in rows}
    time_evaluation = f"time_{c0 - timedelta(days=30)}"
    selection = {m: v for (e, used, m), v in gini.items() if (e, used) == (time_evaluation, "selection")}
    assert set(selection) == {"gbt_raw", "gbt_log1p"}
    report = [m for (e, used, m) in gini if (e, used) == ("customers", "report")]
    assert report == [max(selection, key=selection.get)]  # the selected form alone, fitted once more at c0
    assert len(gini) == 3


def test_backtest_writes_predictions_and_metrics_of_every_method(mapped_lake, capsys, monkeypatch):
    """Also: the two forms are fitted at once (XGBoost in one task each): each form's calibration waits until the
    other form has been fitted too, which fitted one after the other never happens."""
    conf, lake, _ = mapped_lake
    both_fitted = threading.Barrier(2, timeout=120)

    def calibrated_once_both_are_fitted(*args, **kwargs):
        both_fitted.wait()
        return calibrated(*args, **kwargs)

    monkeypatch.setattr(evaluation, "calibrated", calibrated_once_both_are_fitted)
    capsys.readouterr()
    args = ["backtest", "--conf", str(conf), "--calibration-end", "2024-09-01", "--holdout-end", "2024-12-31"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "bgnbd_gamma_gamma" in out and "normalised_gini" in out
    methods = {method_name("raw"), method_name("log1p"), *BASELINES}  # every form of the config
    predictions = lake.read_partition("backtest_predictions", date(2024, 9, 1))
    assert {r["method"] for r in predictions.select("method").distinct().collect()} == methods
    per_method = predictions.groupBy("method").count().collect()
    assert len({r["count"] for r in per_method}) == 1  # the same held-out customers for every method
    assert predictions.where(F.col("method") == "gbt_raw").where(F.col("lower").isNull()).isEmpty()
    metrics = lake.read_partition("backtest_metrics", date(2024, 9, 1))
    scalar = metrics.where(F.col("decile").isNull())
    assert {r["method"] for r in scalar.select("method").distinct().collect()} == methods
    assert not scalar.where("method = 'gbt_raw' AND metric = 'coverage'").isEmpty()
    assert not metrics.where(F.col("decile") == 1).isEmpty()
    # the form is chosen on the calibration customers (a selection), reported on the held-out ones
    chosen_on = scalar.where((F.col("evaluation") == CALIBRATION) & (F.col("metric") == "normalised_gini"))
    assert {r["used_for"] for r in chosen_on.collect()} == {SELECTION}
    best = chosen_on.orderBy(F.col("value").desc()).first()["method"]
    assert chosen_on.count() == 2 and f"selected: {best}, the best normalised_gini" in out
    assert main(args) == 0  # a rerun replaces the partition
    assert lake.read_partition("backtest_predictions", date(2024, 9, 1)).count() == predictions.count()


def test_a_training_whose_backtest_tables_fail_to_write_logs_its_run_but_registers_no_version(
    mapped_lake, monkeypatch
):
    """MLflow logs the run and its model while the backtest's tables are written; the model becomes a registered
    version (which scoring would take on a lake without a champion) only once both are done."""
    conf, _, _ = mapped_lake
    settings = load_config(conf).mlflow
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.registry_uri)
    experiment = client.get_experiment_by_name(settings.experiment).experiment_id

    def state() -> tuple[int, list[str]]:
        versions = client.search_model_versions(f"name = '{settings.model_name}'")
        return len(client.search_runs([experiment])), sorted(v.version for v in versions)

    logged = threading.Event()

    def logged_and_flagged(*args, **kwargs):
        try:
            return log_training_run(*args, **kwargs)
        finally:
            logged.set()

    def conflicting_once_logged(*args, **kwargs):  # as a write whose retries outlast the logging
        assert logged.wait(timeout=300)
        raise ConflictError("table 'backtest_metrics': another job's commits conflicted with this write")

    runs, versions = state()
    monkeypatch.setattr(train, "log_training_run", logged_and_flagged)
    monkeypatch.setattr(train, "write_outcomes", conflicting_once_logged)
    assert main(["train", "--conf", str(conf), "--as-of", RUN_DATE.isoformat()]) == 2
    assert state() == (runs + 1, versions)  # the run was logged, no version was registered


def test_backtest_rejects_a_holdout_end_before_the_calibration_end(tmp_path, capsys):
    conf = write_config(tmp_path, model=MODEL)
    args = ["backtest", "--conf", str(conf), "--calibration-end", "2024-09-01", "--holdout-end", "2024-08-01"]
    assert main(args) == 2
    assert "--holdout-end 2024-08-01 must be after" in capsys.readouterr().err


def test_without_dropout_the_backtest_runs_without_the_bgnbd_baseline(spark, tmp_path, capsys, caplog):
    """With the BTYD inputs on: the snapshots without a fit give the regressor null inputs (read as 0), and the
    predictions keep P(alive) null."""
    conf = write_config(
        tmp_path, model={**MODEL, "btyd": {"unit_days": 7, "monetary_digits": 4, "as_features": True}}
    )
    lake = Lake(spark, load_config(conf).lake.root)
    lake.merge_new(transactions(spark, customers=80, dropout=False), "orders")
    args = ["backtest", "--conf", str(conf), "--calibration-end", "2024-09-01", "--holdout-end", "2024-12-31"]
    assert main(args) == 0
    assert "BG/NBD + Gamma-Gamma is left out" in caplog.text
    predictions = lake.read_partition("backtest_predictions", date(2024, 9, 1))
    methods = {r["method"] for r in predictions.select("method").distinct().collect()}
    assert methods == {method_name("raw"), *FORMULAS}  # no BTYD model without the BG/NBD fit
    assert predictions.where(F.col("p_alive").isNotNull() | F.col("discrepant")).isEmpty()
