"""`clv backtest` on a transactions-only lake: orders and nothing else."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.cli import main
from clvlake.config import load_config
from clvlake.lake import Lake
from clvlake.modeling.backtest import method_name
from clvlake.modeling.baselines import BASELINES, BTYD
from tests.support.config import write_config

pytestmark = pytest.mark.slow

MODEL = {
    "forms": ["raw"],
    "pooled_snapshots": 2,
    "gbt": {"max_iter": 3, "max_depth": 2, "step_size": 0.5, "subsampling_rate": 1.0},
}


def transactions(spark, customers: int = 150, dropout: bool = True):
    """BG/NBD-like buyers: gamma-distributed purchase rates, a beta-distributed dropout chance per purchase (or
    none: everyone keeps buying to the end of the year)."""
    rng = np.random.default_rng(11)
    rows, start = [], datetime(2024, 1, 1)
    for c in range(customers):
        rate, dropout_chance = rng.gamma(1.0, 1 / 30), rng.beta(1.0, 3.0) if dropout else 0.0
        day, n = float(rng.integers(0, 200)), 0
        while day < 365:
            ts = start + timedelta(days=int(day))
            amount = Decimal(f"{rng.uniform(5, 80):.2f}")
            zero = Decimal("0")
            rows.append(
                (
                    f"o{c}-{n}",
                    f"k{c}",
                    ts,
                    None,
                    "EUR",
                    amount,
                    zero,
                    zero,
                    zero,
                    1,
                    None,
                    ts.date(),
                    "f",
                    "r",
                )
            )
            if rng.random() < dropout_chance:
                break
            day, n = day + rng.exponential(1 / rate), n + 1
    return spark.createDataFrame(rows, schemas.ORDERS)


def test_backtest_writes_predictions_and_metrics_of_every_method(spark, tmp_path, capsys):
    conf = write_config(tmp_path, model=MODEL)
    cfg = load_config(conf)
    lake = Lake(spark, cfg.lake.root)
    lake.merge_new(transactions(spark), "orders")
    args = ["backtest", "--conf", str(conf), "--calibration-end", "2024-09-01", "--holdout-end", "2024-12-31"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "bgnbd_gamma_gamma" in out and "normalised_gini" in out
    methods = {method_name("raw"), *BASELINES}
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
    assert main(args) == 0  # a rerun replaces the partition
    assert lake.read_partition("backtest_predictions", date(2024, 9, 1)).count() == predictions.count()


def test_backtest_rejects_a_holdout_end_before_the_calibration_end(tmp_path, capsys):
    conf = write_config(tmp_path, model=MODEL)
    args = ["backtest", "--conf", str(conf), "--calibration-end", "2024-09-01", "--holdout-end", "2024-08-01"]
    assert main(args) == 2
    assert "--holdout-end 2024-08-01 must be after" in capsys.readouterr().err


def test_without_dropout_the_backtest_runs_without_the_bgnbd_baseline(spark, tmp_path, capsys, caplog):
    conf = write_config(tmp_path, model=MODEL)
    lake = Lake(spark, load_config(conf).lake.root)
    lake.merge_new(transactions(spark, customers=80, dropout=False), "orders")
    args = ["backtest", "--conf", str(conf), "--calibration-end", "2024-09-01", "--holdout-end", "2024-12-31"]
    assert main(args) == 0
    assert "the BG/NBD + Gamma-Gamma baseline is left out" in caplog.text
    predictions = lake.read_partition("backtest_predictions", date(2024, 9, 1))
    methods = {r["method"] for r in predictions.select("method").distinct().collect()}
    assert methods == {method_name("raw"), *(b for b in BASELINES if b != BTYD)}
    assert predictions.where(F.col("p_alive").isNotNull() | F.col("discrepant")).isEmpty()
