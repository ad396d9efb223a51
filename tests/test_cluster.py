"""The pipeline on a real Spark standalone cluster (scripts/local_cluster.sh) gives the scores local mode gives,
and the data jobs run as a Spark Connect client write what the cluster wrote.

The cluster run goes through the production path: the library as a wheel (`--py-files`), Delta jars from
the install cache (`--jars`), `spark-submit --master spark://…` of the thin `jobs/pipeline.py`, ingest included.
Local mode then starts from a copy of the cluster's silver tables (ingest is covered by its own tests, and
running it twice was half of this test's time) and runs features, train and score. The Spark Connect server
(`local_cluster.sh connect`) runs `clv` processes with `SPARK_REMOTE` set on the same landing files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from chispa import assert_approx_df_equality

from clvlake.cli import main
from clvlake.config import load_config
from clvlake.jars import cached_jars
from clvlake.lake import Lake
from clvlake.session import DELTA_SESSION_CONF
from tests.support.config import QUICK_JVM, REPO, TEST_SPARK, write_config
from tests.support.pipeline import AS_OF, SMALL

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

MASTER_PORT, WEBUI_PORT, CONNECT_PORT = "17077", "18080", "17002"
SCORE_COLUMNS = ("customer_key", "score_date", "predicted_clv", "value_tier", "model_version")


# generous limits, there to stop a hang: CI runs this module beside `make test` on the same two cores
TIMEOUT, STARTUP_TIMEOUT = 1800, 300


def run(cmd: list[str], env: dict[str, str], timeout: int = TIMEOUT) -> str:
    done = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(cmd[:3])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout


SCRIPT = str(REPO / "scripts" / "local_cluster.sh")


def script_env(folder: Path) -> dict[str, str]:
    """`local_cluster.sh`'s environment: this test's ports, its pid files and logs in `folder`."""
    return {
        **os.environ,
        "PYTHON": sys.executable,
        "CLUSTER_DIR": str(folder),
        "SPARK_MASTER_PORT": MASTER_PORT,
        "SPARK_MASTER_WEBUI_PORT": WEBUI_PORT,
        "SPARK_CONNECT_PORT": CONNECT_PORT,
        "WORKER_CORES": "2",
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A master and one worker on 127.0.0.1 for this module; yields the master URL."""
    env = script_env(tmp_path_factory.mktemp("cluster"))
    url = run(["bash", SCRIPT, "start", "1"], env, timeout=STARTUP_TIMEOUT).strip().splitlines()[-1]
    try:
        yield url
    finally:
        run(["bash", SCRIPT, "stop"], env, timeout=60)


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory, spark):
    """A Spark Connect server in local mode with the test session's settings; yields its sc:// URL."""
    env = script_env(tmp_path_factory.mktemp("connect"))
    same_as_tests = {
        **TEST_SPARK["extra"],
        "spark.sql.shuffle.partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        "spark.default.parallelism": spark.conf.get("spark.default.parallelism"),
        "spark.driver.memory": TEST_SPARK["driver_memory"],
    }
    conf_args = [arg for key, value in same_as_tests.items() for arg in ("--conf", f"{key}={value}")]
    url = run(["bash", SCRIPT, "connect", TEST_SPARK["master"], *conf_args], env, timeout=STARTUP_TIMEOUT)
    try:
        yield url.strip().splitlines()[-1]
    finally:
        run(["bash", SCRIPT, "stop"], env, timeout=60)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)],
        dict(os.environ),
    )
    (built,) = out.glob("clvlake-*.whl")
    return built


@pytest.fixture(scope="module")
def cluster_lake(spark, cluster, wheel, tmp_path_factory) -> Path:
    """`jobs/pipeline.py` run on the cluster over 300 generated customers; yields its config."""
    jars = cached_jars()
    assert jars, "the Delta jar cache is filled by `make install`"
    cluster_conf = write_config(tmp_path_factory.mktemp("cluster_lake"), **SMALL)
    assert main(["generate", "--conf", str(cluster_conf), "--customers", "300", "--seed", "11"]) == 0

    python = sys.executable
    env = {**os.environ, "PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python}
    # the same partitioning as the local test session, so both runs train on identically laid-out data
    same_layout = {
        key: spark.conf.get(key) for key in ("spark.sql.shuffle.partitions", "spark.default.parallelism")
    }
    # the JVMs start as the test session's do (C1 only, jars trusted: why, in tests/support/config.py)
    quick_jvm = {f"spark.{jvm}.extraJavaOptions": QUICK_JVM for jvm in ("driver", "executor")}
    conf = {**DELTA_SESSION_CONF, **same_layout, **quick_jvm, "spark.sql.session.timeZone": "UTC"}
    conf_args = [arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")]
    out = run(
        [
            str(Path(python).parent / "spark-submit"),
            "--master",
            cluster,
            "--jars",
            ",".join(jars),
            *conf_args,
            "--py-files",
            str(wheel),
            "jobs/pipeline.py",
            "--conf",
            str(cluster_conf),
            "--as-of",
            AS_OF.isoformat(),
        ],
        env,
    )
    assert '"job": "score"' in out
    return cluster_conf


def table(spark, conf: Path, name: str, value=AS_OF):
    """One partition of a table of the lake of a config."""
    return Lake(spark, load_config(conf).lake.root).read_partition(name, value)


def test_cluster_scores_equal_local_scores(spark, cluster_lake, tmp_path):
    cluster_conf, local_conf = cluster_lake, write_config(tmp_path / "local", **SMALL)
    shutil.copytree(
        Path(load_config(cluster_conf).lake.root) / "silver",
        Path(load_config(local_conf).lake.root) / "silver",
    )
    for job in ("features", "train", "score"):
        assert main([job, "--conf", str(local_conf), "--as-of", AS_OF.isoformat()]) == 0

    on_cluster, local = (
        table(spark, c, "clv_scores").select(*SCORE_COLUMNS) for c in (cluster_conf, local_conf)
    )
    assert on_cluster.count() == local.count() > 200
    assert_approx_df_equality(
        on_cluster.orderBy("customer_key"),
        local.orderBy("customer_key"),
        precision=1e-6,
        ignore_nullable=True,
    )


def test_the_data_jobs_over_spark_connect_write_what_the_cluster_wrote(
    spark, cluster_lake, connect_server, tmp_path
):
    """ingest, features and report as a Spark Connect client (no JVM in the `clv` process); train and score
    refuse with one line naming why. The report runs on the cluster's scores (copied: scoring needs the JVM)."""
    cluster = Lake(spark, load_config(cluster_lake).lake.root)
    conf = write_config(tmp_path, **SMALL, lake={"landing": load_config(cluster_lake).lake.landing})
    env = {**os.environ, "SPARK_REMOTE": connect_server, "CLVLAKE_SCRATCH": str(tmp_path / "scratch")}

    def clv(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "clvlake.cli", *args, "--conf", str(conf)]
        return subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )

    for job in ("ingest", "features"):
        done = clv(job, "--as-of", AS_OF.isoformat())
        assert done.returncode == 0, done.stderr[-3000:]
        assert "connected to Spark Connect" in done.stderr
    assert_approx_df_equality(
        table(spark, conf, "customer_features").orderBy("customer_key"),
        table(spark, cluster_lake, "customer_features").orderBy("customer_key"),
        precision=1e-9,
        ignore_nullable=True,
    )

    refused = clv("train", "--as-of", AS_OF.isoformat())
    assert refused.returncode == 2
    assert "error: train cannot run over Spark Connect" in refused.stderr, refused.stderr[-2000:]

    lake = Lake(spark, load_config(conf).lake.root)
    for scored in ("clv_scores", "clv_horizons"):
        shutil.copytree(cluster.path(scored), lake.path(scored))
    done = clv("report", "--as-of", AS_OF.isoformat())
    assert done.returncode == 0, done.stderr[-3000:]
    by_segment = "segment"
    assert_approx_df_equality(
        table(spark, conf, "segment_summary").orderBy(by_segment),
        table(spark, cluster_lake, "segment_summary").orderBy(by_segment),
        precision=1e-9,
        ignore_nullable=True,
    )
