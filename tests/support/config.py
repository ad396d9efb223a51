"""Configs on temporary lakes: conf/local.yml with every location moved under a test's own folder."""

from __future__ import annotations

from pathlib import Path

import yaml

from clvlake.config import Config, config_from_dict

REPO = Path(__file__).resolve().parents[2]
# the tests' Spark: the session of a test run (tests/conftest.py) and the `clv` processes tests start, sized for
# their tiny lakes (conf/local.yml's 8 shuffle partitions would only add tasks and files)
# the JVM compiles with C1 only (why: TEST_SPARK below), into a code cache of the size the default tiered JVM has:
# C1 alone gets 48 MB, which Spark and Delta fill within a minute, and then the JVM disables its compiler ("CodeCache
# is full") and interprets every method it meets later, for the rest of a half-hour test worker. It trusts the
# jars' byte code instead of verifying each class it loads (tens of thousands): a `clv features` process on the
# 400-customer lake 22.0 → 20.3 s (three runs each, alternated); the cluster and Connect tests' JVMs do the same.
QUICK_JVM = (
    "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m "
    "-XX:+UnlockDiagnosticVMOptions -XX:-BytecodeVerificationRemote"
)
TEST_SPARK = {
    "master": "local[2]",
    "app_name": "clvlake-tests",
    "shuffle_partitions": 2,
    "driver_memory": "2g",
    # Every query of a test touches a few hundred rows, so compiling it to Java byte code costs more than running
    # it: Spark's interpreted operators and expressions (the same results; Spark's own suites check every
    # expression both ways) and a throughput collector made `clv pipeline` on 400 customers about a third faster
    # (measured side by side: 105 → 71 s). The cluster test compares these scores with a cluster's compiled run.
    # For the same reason the JVM compiles only with its quick first-tier compiler (C1): a test's JVM spends most
    # of its time in code run too few times for the optimising compiler to repay its CPU, which two test workers
    # on two cores then lack (JVM CPU of a 400-customer ingest 61 → 38 s at the same wall time; test_erase.py +
    # test_kill.py (now in test_fuzz.py) with two workers: 319 and 334 s without it, 301 and 297 s with it, runs
    # alternated). With the code cache that no longer fills, the pipeline on 400 customers: JVM CPU 77–92 s → 68–74 s,
    # where the default tiered JVM took 119 s (60 s of it in its compiler threads).
    "extra": {
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        "spark.driver.extraJavaOptions": f"-XX:+UseParallelGC {QUICK_JVM}",
    },
}


def config_data(root: Path, **overrides: dict) -> dict:
    """conf/local.yml as a dict with every location moved under `root` and the tests' Spark; `overrides` replace
    sections' keys."""
    data = yaml.safe_load((REPO / "conf" / "local.yml").read_text())
    data["lake"] = {"root": str(root / "lake"), "landing": str(root / "landing")}
    data["spark"] = {**data["spark"], **TEST_SPARK}
    db = root / "mlflow" / "mlflow.db"
    data["mlflow"].update(
        tracking_uri=f"sqlite:///{db}",
        registry_uri=f"sqlite:///{db}",
        artifact_root=str(root / "mlflow" / "artifacts"),
    )
    data["generator"]["oracle_dir"] = str(root / "oracle")
    data["segments"]["report_dir"] = str(root / "reports")
    data["privacy"] = {**data["privacy"], "salt": "test-salt"}
    for section, values in overrides.items():
        data[section] = {**data[section], **values}
    return data


def make_config(root: Path, **overrides: dict) -> Config:
    return config_from_dict(config_data(root, **overrides), "test-config")


def write_config(root: Path, **overrides: dict) -> Path:
    """A config file for CLI tests, with the same temporary locations as `make_config`."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "clvlake.yml"
    path.write_text(yaml.safe_dump(config_data(root, **overrides)))
    return path
