"""End to end: generate a small data set, run `clv pipeline` twice for one date, check every contract; then
jobs killed part-way and jobs run at once on that lake (RELIABILITY.md's kill and concurrency scenarios) end
as uninterrupted runs leave it. The tests share the lake, so their order below matters."""

from __future__ import annotations

import json
import re
import runpy
import subprocess
from datetime import date
from pathlib import Path

import mlflow
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from chispa import assert_df_equality
from delta.tables import DeltaTable as SparkDeltaTable
from deltalake import DeltaTable
from mlflow.tracking import MlflowClient
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.catalog import TABLES
from clvlake.cli import main
from clvlake.config import load_config
from clvlake.lake import Lake
from clvlake.privacy.erase import erasable_tables, pending_purges
from clvlake.reporting.export import export_path
from clvlake.reporting.html import SECTIONS
from clvlake.reporting.run import report_file
from tests.support import browser
from tests.support.config import REPO, write_config
from tests.support.pipeline import AS_OF, SMALL
from tests.support.process import commits, data_files, kill_when, start_clv, wait_until

pytestmark = pytest.mark.slow

TRAIN_SNAPSHOT = date(2025, 1, 1)  # AS_OF − the 181-day horizon of SMALL


def field_types(schema):
    return [(f.name, f.dataType) for f in schema.fields]


@pytest.fixture(scope="module")
def pipeline_twice(spark, tmp_path_factory):
    """Run generate + pipeline twice on one temporary lake; yield (config, lake, history of clv_scores)."""
    root = tmp_path_factory.mktemp("e2e")
    conf = write_config(root, **SMALL)
    assert main(["generate", "--conf", str(conf), "--customers", "400", "--seed", "7"]) == 0
    args = ["pipeline", "--conf", str(conf), "--as-of", AS_OF.isoformat()]
    assert main(args) == 0
    cfg = load_config(conf)
    lake = Lake(spark, cfg.lake.root)
    first_counts = {
        t: lake.read(t).count() for t in ("orders", "customer_features", "training_sets", "clv_scores")
    }
    assert main(args) == 0
    return cfg, lake, first_counts


def test_tables_read_back_with_the_contract_schemas(pipeline_twice):
    _, lake, _ = pipeline_twice
    for table, schema in (
        ("orders", schemas.ORDERS),
        ("customer_features", schemas.CUSTOMER_FEATURES),
        ("clv_scores", schemas.CLV_SCORES),
        ("training_sets", schemas.TRAINING_SETS),
    ):
        assert field_types(lake.read(table).schema) == field_types(schema), table


def test_one_row_per_customer_and_date_with_valid_predictions(pipeline_twice):
    _, lake, _ = pipeline_twice
    scores = lake.read("clv_scores")
    features = lake.read_partition("customer_features", AS_OF)
    assert (
        scores.count()
        == scores.select("customer_key", "score_date").distinct().count()
        == features.count()
        > 300
    )
    assert scores.where(F.col("predicted_clv").isNull() | (F.col("predicted_clv") < 0)).count() == 0
    assert {r["score_date"] for r in scores.select("score_date").distinct().collect()} == {AS_OF}
    assert {r["value_tier"] for r in scores.select("value_tier").distinct().collect()} == {
        "platinum",
        "gold",
        "silver",
        "bronze",
    }
    assert features.groupBy("customer_key").count().where("count > 1").count() == 0


def test_rerun_replaces_partitions_instead_of_appending(spark, pipeline_twice):
    _, lake, first_counts = pipeline_twice
    assert {t: lake.read(t).count() for t in first_counts} == first_counts
    for table in ("customer_features", "clv_scores", "training_sets"):
        writes = [
            r
            for r in spark.sql(f"DESCRIBE HISTORY delta.`{lake.path(table)}`").collect()
            if r["operation"] == "WRITE"
        ]
        # newest first: the rerun replaced the partition (replaceWhere), the first run appended it (nothing to
        # replace yet, so no search for files to drop)
        rerun, first = (w["operationParameters"] for w in writes)
        assert (first["mode"], rerun["mode"]) == ("Append", "Overwrite"), table
        assert "predicate" in rerun and "predicate" not in first, table


def test_training_run_and_registered_model_are_found_in_mlflow(pipeline_twice):
    cfg, lake, _ = pipeline_twice
    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[cfg.mlflow.experiment])
    assert len(runs) == 2
    for metric in ("rmse", "mae", "spearman", "normalised_gini", "total_ratio"):
        assert runs[f"metrics.holdout_{metric}"].notna().all(), metric
    assert set(runs["params.training_snapshot"]) == {TRAIN_SNAPSHOT.isoformat()}
    # the workers XGBoost trained with, as resolved from the automatic default (0) for a few hundred rows
    assert set(runs["params.gbt_workers"]) == {"1"}
    versions = MlflowClient(registry_uri=cfg.mlflow.registry_uri).search_model_versions(
        f"name = '{cfg.mlflow.model_name}'"
    )
    assert sorted(int(v.version) for v in versions) == [1, 2]
    scored_with = {
        r["model_version"] for r in lake.read("clv_scores").select("model_version").distinct().collect()
    }
    # the first model became champion; the identical second one does not beat it, so scoring keeps version 1
    champion = MlflowClient(registry_uri=cfg.mlflow.registry_uri).get_model_version_by_alias(
        cfg.mlflow.model_name, "champion"
    )
    assert scored_with == {str(champion.version)} == {"1"}
    assert {v.run_id for v in versions} == set(runs["run_id"])
    # Unity Catalog's registry (`databricks-uc`) takes only models logged with their inputs' and output's schema
    # the default blends the trees with BG/NBD + Gamma-Gamma: the weight is logged, its value is an input too
    assert runs["params.blend_regressor_weight"].astype(float).between(0, 1).all()
    assert (runs["params.blend_btyd_scale"].astype(float) > 0).all()
    signature = mlflow.models.get_model_info(f"models:/{cfg.mlflow.model_name}/1").signature
    assert signature.inputs.input_names() == [*schemas.FEATURE_COLUMNS, "btyd_value"]
    assert signature.outputs.input_names() == ["raw_prediction"]


@pytest.mark.parametrize("notebook", sorted(p.name for p in (REPO / "notebooks").glob("*.py")))
def test_notebooks_run_against_the_lake(pipeline_twice, notebook, monkeypatch, capsys):
    cfg, _, _ = pipeline_twice
    source = (REPO / "notebooks" / notebook).read_text()
    assert source.startswith("# Databricks notebook source\n")
    for name, value in {
        "conf": cfg.source_file,
        "as_of": AS_OF.isoformat(),
        "snapshot": AS_OF.isoformat(),
    }.items():
        monkeypatch.setenv(f"CLVLAKE_{name.upper()}", value)
    runpy.run_path(str(REPO / "notebooks" / notebook), run_name="__main__")
    assert capsys.readouterr().out.strip()


def test_monitor_measures_realised_value_and_alerts_on_a_quality_failure(spark, pipeline_twice, capsys):
    """Runs last: it adds a score date. A matured score date gets realised-vs-predicted metrics; a negative
    prediction injected into the scores makes `clv monitor` exit 2 with an alert record."""
    cfg, lake, _ = pipeline_twice
    conf, as_of = cfg.source_file, ["--as-of", AS_OF.isoformat()]
    # a score date whose 181-day horizon ends on AS_OF, by a one-date backfill with the current champion
    day = TRAIN_SNAPSHOT.isoformat()
    assert main(["pipeline", "--conf", conf, "--from", day, "--to", day, "--skip-train"]) == 0
    summary = json.loads(
        [line for line in capsys.readouterr().out.splitlines() if '"job": "pipeline"' in line][0]
    )
    assert [(s["step"], s["as_of"]) for s in summary["steps"]] == [
        ("features", f"{day}..{day}"),
        ("score", day),
        ("report", day),
    ]
    assert summary["status"] == "ok" and summary["model_version"] == "1"
    code = main(["monitor", "--conf", conf, *as_of])
    realised = lake.read_partition("realised_vs_predicted", AS_OF)
    assert {r["score_date"] for r in realised.select("score_date").distinct().collect()} == {TRAIN_SNAPSHOT}
    assert {(r["method"], r["metric"]) for r in realised.collect()} >= {
        ("model", "normalised_gini"),
        ("historical_average", "normalised_gini"),
        ("model", "rmse"),
    }
    assert {r["kind"] for r in lake.read_partition("drift", AS_OF).select("kind").distinct().collect()} == {
        "feature",
        "prediction",
    }
    breaches = lake.read_partition("monitor_checks", AS_OF).where("breached").count()
    assert code == (2 if breaches else 0)
    capsys.readouterr()

    first_key = lake.read_partition("clv_scores", AS_OF).agg(F.min("customer_key")).first()[0]
    broken = lake.read_partition("clv_scores", AS_OF).withColumn(
        "predicted_clv",
        F.when(F.col("customer_key") == first_key, F.lit(-1.0)).otherwise(F.col("predicted_clv")),
    )
    lake.replace_partition(broken, "clv_scores", AS_OF)
    try:
        assert main(["monitor", "--conf", conf, *as_of]) == 2
        captured = capsys.readouterr()
        alerts = [json.loads(line) for line in captured.out.splitlines() if line.startswith('{"alert"')]
        invalid = [a for a in alerts if a["name"] == "invalid_predictions"]
        assert invalid and invalid[0]["value"] == 1 and invalid[0]["stage"] == "score"
        assert "monitoring check(s) breached" in captured.err and "score/invalid_predictions" in captured.err
    finally:
        assert main(["score", "--conf", conf, *as_of]) == 0


def test_report_tables_export_and_page_in_headless_chromium(spark, pipeline_twice):
    """Runs after the monitor test, which also scored TRAIN_SNAPSHOT: the report at AS_OF has a migration."""
    cfg, lake, _ = pipeline_twice
    assert main(["report", "--conf", cfg.source_file, "--as-of", AS_OF.isoformat()]) == 0
    for table in ("segment_summary", "segment_migration", "cohorts", "what_if", "budget_allocation"):
        assert field_types(lake.read(table).schema) == field_types(TABLES[table].schema), table
    scores = lake.read_partition("clv_scores", AS_OF)
    summary = lake.read_partition("segment_summary", AS_OF)
    assert summary.agg(F.sum("customers")).first()[0] == scores.count()
    assert summary.agg(F.sum("value_share")).first()[0] == pytest.approx(1.0)
    migration = lake.read_partition("segment_migration", AS_OF)
    assert {r["previous_score_date"] for r in migration.collect()} == {TRAIN_SNAPSHOT}
    arrived = migration.where("from_tier = '(none)'").agg(F.sum("customers")).first()[0] or 0
    assert (
        migration.agg(F.sum("customers")).first()[0] - arrived
        == lake.read_partition("clv_scores", TRAIN_SNAPSHOT).count()
    )
    budget = lake.read_partition("budget_allocation", AS_OF).agg(F.sum("budget")).first()[0]
    assert 0 < budget <= cfg.segments.budget.total + 1e-6
    consenting = lake.read("customers").where("marketing_consent").select("customer_key")
    exported = spark.read.parquet(export_path(lake, "parquet", AS_OF))
    assert exported.count() == scores.join(consenting, "customer_key", "left_semi").count() > 0

    page = report_file(cfg, AS_OF)
    loaded = browser.load(page)
    assert loaded.console == []
    for section, _ in SECTIONS:
        assert f'<section id="{section}">' in loaded.dom, section
    assert (
        loaded.dom.count("<svg") >= 8
    )  # histogram, tiers, funnel, migration, 2 cohort maps, gain, calibration
    shot = browser.screenshot(page, REPO / "test-output" / "clv_report.png")
    assert shot.stat().st_size > 20_000
    print(f"report screenshot: {shot}")


def assert_same_rows(spark, outside: pa.Table, inside: DataFrame, keys: tuple[str, ...]) -> None:
    """The rows another reader got equal Spark's, in the same columns and types (nullability aside)."""
    types = [(f.name, f.dataType.simpleString()) for f in spark.createDataFrame(outside).schema]
    assert types == [(f.name, f.dataType.simpleString()) for f in inside.schema]
    assert outside.num_rows > 0
    assert_df_equality(spark.createDataFrame(outside, inside.schema).orderBy(*keys), inside.orderBy(*keys))


def test_gold_tables_and_the_export_read_the_same_without_spark(spark, pipeline_twice):
    """Downstream tools read the lake without Spark: delta-rs (`deltalake`, as in Polars, pandas or DuckDB
    pipelines) reads the gold tables and pyarrow the campaign export, row for row what Spark reads. A table
    feature or file layout those readers cannot handle fails here, not at a customer's BI tool."""
    _, lake, _ = pipeline_twice
    for table in ("clv_scores", "segment_summary"):
        outside = DeltaTable(lake.path(table)).to_pyarrow_table()
        assert_same_rows(spark, outside, lake.read(table), TABLES[table].keys)
    export = export_path(lake, "parquet", AS_OF)
    assert_same_rows(spark, pq.read_table(export), spark.read.parquet(export), ("customer_key",))


def shown_rows(text: str) -> list[list[str]]:
    """The rows of a table `DataFrame.show` printed, as lists of cells."""
    return [
        [cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines() if line[:1] == "|"
    ]


def test_in_catalog_mode_jobs_write_by_name_and_a_later_session_finds_the_scores_by_name(
    spark, pipeline_twice, tmp_path
):
    """Catalog mode on the lake the pipeline wrote in path mode: `clv score` (its own process) registers the
    tables it uses in a metastore under the lake's root and writes the scores by name, to the same folders; a
    later process finds them as `clvlake.clv_scores` (`clv sql`)."""
    cfg, lake, _ = pipeline_twice
    data = yaml.safe_load(Path(cfg.source_file).read_text())
    data["lake"]["schema"] = "clvlake"
    conf = tmp_path / "catalog.yml"
    conf.write_text(yaml.safe_dump(data))
    before, total = rows_of(lake.read_partition("clv_scores", AS_OF)), lake.read("clv_scores").count()
    scoring = start_clv(
        ["score", "--conf", str(conf), "--as-of", AS_OF.isoformat()], tmp_path / "s1", subprocess.PIPE
    )
    _, err = scoring.communicate(timeout=600)  # read as it comes: a full pipe would stop the job
    assert scoring.returncode == 0, err
    # writes by name leave the metastore's entry alone (saveAsTable's replace logged an ERROR per table)
    assert not re.search(r"^\S+ ERROR ", err, re.MULTILINE), err
    assert "incubator" not in err  # the local JVM's start-up notice (tests/test_session.py)
    assert rows_of(lake.read_partition("clv_scores", AS_OF)) == before
    assert lake.read("clv_scores").count() == total  # replaced by name at the same folder, not appended
    assert (Path(cfg.lake.root) / "_catalog" / "metastore_db").is_dir()
    query = "SELECT value_tier, count(*) AS n FROM clvlake.clv_scores GROUP BY value_tier ORDER BY value_tier"
    later = start_clv(["sql", "--conf", str(conf), query], tmp_path / "s2", subprocess.PIPE)
    out, err = later.communicate(timeout=600)
    assert later.returncode == 0, err
    expected = (
        lake.read("clv_scores").groupBy("value_tier").agg(F.count("*").alias("n")).orderBy("value_tier")
    )
    assert shown_rows(out) == [
        ["value_tier", "n"],
        *([r["value_tier"], str(r["n"])] for r in expected.collect()),
    ]


def rows_of(df: DataFrame) -> list[str]:
    return sorted(json.dumps(r.asDict(recursive=True), sort_keys=True, default=str) for r in df.collect())


# score first: its rows name the version of customer_features they read, which the features case's rerun moves
@pytest.mark.parametrize("job, table", [("score", "clv_scores"), ("features", "customer_features")])
def test_a_job_killed_while_writing_leaves_its_table_as_it_was_and_a_rerun_as_an_uninterrupted_run(
    spark, pipeline_twice, tmp_path, job, table
):
    """SIGKILL once the job has written data files, before its commit: readers still see the last version, and
    the rerun writes what the uninterrupted runs before it wrote (the monitor test scored AS_OF once more)."""
    cfg, lake, _ = pipeline_twice
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
    spark, pipeline_twice, tmp_path
):
    """SIGKILL once `clv train` has started its MLflow run: MLflow leaves that run RUNNING; the rerun marks it
    KILLED, finishes a run of its own and writes the backtest rows the uninterrupted runs wrote (its model, the
    same as theirs, leaves the champion where it was)."""
    cfg, lake, _ = pipeline_twice
    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.registry_uri)
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment).experiment_id
    runs_before = {r.info.run_id for r in client.search_runs([experiment])}
    champion = client.get_model_version_by_alias(cfg.mlflow.model_name, "champion")
    uninterrupted = rows_of(lake.read_partition("backtest_metrics", TRAIN_SNAPSHOT))

    def running() -> list:
        return client.search_runs([experiment], "attributes.status = 'RUNNING'")

    args = ["train", "--conf", cfg.source_file, "--as-of", AS_OF.isoformat()]
    kill_when(start_clv(args, tmp_path / "scratch"), lambda: bool(running()), every=0.5)  # an MLflow query
    (killed,) = running()
    assert main(args) == 0
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    (rerun,) = [
        r for r in client.search_runs([experiment]) if r.info.run_id not in runs_before | {killed.info.run_id}
    ]
    assert rerun.info.status == "FINISHED"
    assert rows_of(lake.read_partition("backtest_metrics", TRAIN_SNAPSHOT)) == uninterrupted
    assert client.get_model_version_by_alias(cfg.mlflow.model_name, "champion").version == champion.version


def test_an_erasure_killed_part_way_and_rerun_during_scoring_waits_for_it_and_erases_everywhere(
    spark, pipeline_twice, tmp_path
):
    """Runs last: it erases a customer. `clv erase` SIGKILLed once it has erased silver orders; `clv score` then
    takes the lease the killed run left; the erasure's rerun, started while scoring runs, waits for the lease
    (without it, scores computed before the erasure would be written to gold after it) and erases the rest. The
    killed run's start record keeps every table it searched pending for the purge, although the rerun found
    nothing in those it had already erased (so their old versions are vacuumed too)."""
    cfg, lake, _ = pipeline_twice
    subject = lake.read("customer_identity").orderBy(F.desc("customer_id")).first()
    tables = [t for t in erasable_tables() if lake.exists(t) and "customer_key" in TABLES[t].schema.names]

    def holding(names) -> set[str]:
        return {
            t
            for t in names
            if not lake.read(t).where(F.col("customer_key") == subject["customer_key"]).isEmpty()
        }

    held = holding(tables)
    assert "orders" in held
    args = ["erase", "--conf", cfg.source_file, "--customer-id", subject["customer_id"]]
    orders, versions = Path(lake.path("orders")), commits(Path(lake.path("orders")))
    kill_when(start_clv(args, tmp_path / "erasing"), lambda: bool(commits(orders) - versions))
    left = holding(held)
    assert "orders" not in left and left, "killed part-way"
    scoring = start_clv(
        ["score", "--conf", cfg.source_file, "--as-of", AS_OF.isoformat()],
        tmp_path / "scoring",
        subprocess.PIPE,
    )
    wait_until(lambda: str(lake.read("lease").first()["holder"]).startswith("score:"), [scoring], every=1.0)
    assert main(args) == 0
    _, err = scoring.communicate(timeout=600)
    assert scoring.returncode == 0, err
    assert holding(tables) == set()
    assert lake.read_partition("clv_scores", AS_OF).count() > 300
    history = SparkDeltaTable.forPath(spark, lake.path("clv_scores")).history(3).collect()
    operations = [r["operation"] for r in sorted(history, key=lambda r: -r["version"])]
    assert operations.index("MERGE") < operations.index("WRITE")  # the erasure came after the scores
    assert held <= {t for purge in pending_purges(lake) for t in purge.tables}
