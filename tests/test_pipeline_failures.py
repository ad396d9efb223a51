"""Jobs killed part-way, and jobs run at once, on a lake the whole pipeline wrote: every table ends as one
uninterrupted run leaves it (RELIABILITY.md's kill and concurrency scenarios; the lake's lease in
`clvlake.lease`). Each test starts `clv` processes of its own; they share one lake, so the order below matters
(the erasures run last)."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
from delta.tables import DeltaTable as SparkDeltaTable
from mlflow.tracking import MlflowClient
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clvlake.catalog import TABLES
from clvlake.cli import main
from clvlake.config import load_config
from clvlake.lake import Lake
from clvlake.privacy.erase import erasable_tables, pending_purges
from tests.support.config import write_config
from tests.support.pipeline import AS_OF, SMALL
from tests.support.process import commits, data_files, kill_when, start_clv

pytestmark = pytest.mark.slow
TRAIN_SNAPSHOT = date(2025, 1, 1)  # AS_OF − the 181-day horizon of SMALL


@pytest.fixture(scope="module")
def pipeline_once(spark, tmp_path_factory):
    """Generate 400 customers and run the pipeline once on a temporary lake; yield (config, lake)."""
    root = tmp_path_factory.mktemp("failures")
    conf = write_config(root, **SMALL)
    assert main(["generate", "--conf", str(conf), "--customers", "400", "--seed", "7"]) == 0
    assert main(["pipeline", "--conf", str(conf), "--as-of", AS_OF.isoformat()]) == 0
    cfg = load_config(conf)
    return cfg, Lake(spark, cfg.lake.root)


def rows_of(df: DataFrame) -> list[str]:
    return sorted(json.dumps(r.asDict(recursive=True), sort_keys=True, default=str) for r in df.collect())


# score first: its rows name the version of customer_features they read, which the features case's rerun moves
@pytest.mark.parametrize("job, table", [("score", "clv_scores"), ("features", "customer_features")])
def test_a_job_killed_while_writing_leaves_its_table_as_it_was_and_a_rerun_as_an_uninterrupted_run(
    spark, pipeline_once, tmp_path, job, table
):
    """SIGKILL once the job has written data files, before its commit: readers still see the last version, and
    the rerun writes what the uninterrupted runs before it wrote ."""
    cfg, lake = pipeline_once
    args = [job, "--conf", cfg.source_file, "--as-of", AS_OF.isoformat()]
    uninterrupted = rows_of(lake.read_partition(table, AS_OF))
    path = Path(lake.path(table))
    files, versions = data_files(path), commits(path)
    kill_when(start_clv(args, tmp_path / "scratch"), lambda: bool(data_files(path) - files))
    assert commits(path) == versions, "killed after its commit, not while writing"
    assert rows_of(lake.read_partition(table, AS_OF)) == uninterrupted
    assert main(args) == 0
    assert rows_of(lake.read_partition(table, AS_OF)) == uninterrupted


def test_a_training_killed_part_way_leaves_no_run_running_and_a_rerun_as_an_uninterrupted_run(
    spark, pipeline_once, tmp_path
):
    """SIGKILL once `clv train` has started its MLflow run: MLflow leaves that run RUNNING; the rerun marks it
    KILLED, finishes a run of its own and writes the backtest rows the uninterrupted runs wrote (its model, the
    same as theirs, leaves the champion where it was)."""
    cfg, lake = pipeline_once
    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.registry_uri)
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment).experiment_id
    runs_before = {r.info.run_id for r in client.search_runs([experiment])}
    champion = client.get_model_version_by_alias(cfg.mlflow.model_name, "champion")
    uninterrupted = rows_of(lake.read_partition("backtest_metrics", TRAIN_SNAPSHOT))

    def running() -> list:
        return client.search_runs([experiment], "attributes.status = 'RUNNING'")

    args = ["train", "--conf", cfg.source_file, "--as-of", AS_OF.isoformat()]
    kill_when(start_clv(args, tmp_path / "scratch"), lambda: bool(running()))
    (killed,) = running()
    assert main(args) == 0
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    (rerun,) = [
        r for r in client.search_runs([experiment]) if r.info.run_id not in runs_before | {killed.info.run_id}
    ]
    assert rerun.info.status == "FINISHED"
    assert rows_of(lake.read_partition("backtest_metrics", TRAIN_SNAPSHOT)) == uninterrupted
    assert client.get_model_version_by_alias(cfg.mlflow.model_name, "champion").version == champion.version


def test_an_erasure_during_scoring_waits_for_it_and_leaves_the_customer_in_no_gold_table(
    spark, pipeline_once, tmp_path
):
    """Runs last: it erases a customer. `clv erase` started while `clv score` runs waits for the lake's lease;
    without it, scores computed before the erasure would be written to gold after it."""
    cfg, lake = pipeline_once
    subject = lake.read("customer_identity").orderBy("customer_id").first()
    scoring = start_clv(
        ["score", "--conf", cfg.source_file, "--as-of", AS_OF.isoformat()],
        tmp_path / "scratch",
        subprocess.PIPE,
    )
    while not str(lake.read("lease").first()["holder"]).startswith("score:"):
        assert scoring.poll() is None, scoring.communicate()[1]
        time.sleep(0.5)
    assert main(["erase", "--conf", cfg.source_file, "--customer-id", subject["customer_id"]]) == 0
    _, err = scoring.communicate(timeout=600)
    assert scoring.returncode == 0, err
    gold = [t for t, spec in TABLES.items() if spec.layer == "gold" and "customer_key" in spec.schema.names]
    for table in gold:
        assert lake.read(table).where(F.col("customer_key") == subject["customer_key"]).isEmpty(), table
    assert lake.read_partition("clv_scores", AS_OF).count() > 300
    history = SparkDeltaTable.forPath(spark, lake.path("clv_scores")).history(3).collect()
    operations = [r["operation"] for r in sorted(history, key=lambda r: -r["version"])]
    assert operations.index("MERGE") < operations.index("WRITE")  # the erasure came after the scores


def test_an_erasure_killed_part_way_then_rerun_erases_everywhere_and_leaves_every_table_to_the_purge(
    spark, pipeline_once, tmp_path
):
    """Runs last. `clv erase` SIGKILLed once it has erased silver orders; the rerun erases the rest. The killed
    run's start record keeps every table it searched pending for the purge, although the rerun found nothing in
    those it had already erased (so their old versions are vacuumed too)."""
    cfg, lake = pipeline_once
    subject = lake.read("customer_identity").orderBy(F.desc("customer_id")).first()
    tables = [t for t in erasable_tables() if lake.exists(t) and "customer_key" in TABLES[t].schema.names]
    holding = {
        t
        for t in tables
        if not lake.read(t).where(F.col("customer_key") == subject["customer_key"]).isEmpty()
    }
    assert "orders" in holding
    args = ["erase", "--conf", cfg.source_file, "--customer-id", subject["customer_id"]]
    orders, versions = Path(lake.path("orders")), commits(Path(lake.path("orders")))
    kill_when(start_clv(args, tmp_path / "scratch"), lambda: bool(commits(orders) - versions))
    left = {
        t
        for t in holding
        if not lake.read(t).where(F.col("customer_key") == subject["customer_key"]).isEmpty()
    }
    assert "orders" not in left and left, "killed part-way"
    assert main(args) == 0
    for table in tables:
        assert lake.read(table).where(F.col("customer_key") == subject["customer_key"]).isEmpty(), table
    assert holding <= {t for purge in pending_purges(lake) for t in purge.tables}
