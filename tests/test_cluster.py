"""The pipeline on a real Spark standalone cluster (scripts/local_cluster.sh) gives the scores local mode gives.

The cluster run goes through the production path: the library as a wheel (`--py-files`), Delta jars from
the install cache (`--jars`), `spark-submit --master spark://…` of the thin `jobs/pipeline.py`, ingest included.
Local mode then starts from a copy of the cluster's silver tables (ingest is covered by its own tests, and
running it twice was half of this test's time) and runs features, train and score.
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
from tests.support.config import QUICK_JIT, REPO, write_config
from tests.support.pipeline import AS_OF, SMALL

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

MASTER_PORT, WEBUI_PORT = "17077", "18080"
SCORE_COLUMNS = ("customer_key", "score_date", "predicted_clv", "value_tier", "model_version")


def run(cmd: list[str], env: dict[str, str], timeout: int = 900) -> str:
    done = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(cmd[:3])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A master and one worker on 127.0.0.1 for this module; yields the master URL."""
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "CLUSTER_DIR": str(tmp_path_factory.mktemp("cluster")),
        "SPARK_MASTER_PORT": MASTER_PORT,
        "SPARK_MASTER_WEBUI_PORT": WEBUI_PORT,
        "WORKER_CORES": "2",
    }
    script = str(REPO / "scripts" / "local_cluster.sh")
    url = run(["bash", script, "start", "1"], env, timeout=180).strip().splitlines()[-1]
    try:
        yield url
    finally:
        run(["bash", script, "stop"], env, timeout=60)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)],
        dict(os.environ),
    )
    (built,) = out.glob("clvlake-*.whl")
    return built


def test_cluster_scores_equal_local_scores(spark, cluster, wheel, tmp_path):
    jars = cached_jars()
    assert jars, "the Delta jar cache is filled by `make install`"
    cluster_conf = write_config(tmp_path / "cluster", **SMALL)
    local_conf = write_config(tmp_path / "local", **SMALL)
    assert main(["generate", "--conf", str(cluster_conf), "--customers", "300", "--seed", "11"]) == 0

    python = sys.executable
    env = {**os.environ, "PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python}
    # the same partitioning as the local test session, so both runs train on identically laid-out data
    same_layout = {
        key: spark.conf.get(key) for key in ("spark.sql.shuffle.partitions", "spark.default.parallelism")
    }
    # the JVMs compile with C1 only, as the test session does (the reason and its measurement: tests/support/config.py)
    quick_jit = {f"spark.{jvm}.extraJavaOptions": QUICK_JIT for jvm in ("driver", "executor")}
    conf = {**DELTA_SESSION_CONF, **same_layout, **quick_jit, "spark.sql.session.timeZone": "UTC"}
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

    shutil.copytree(
        Path(load_config(cluster_conf).lake.root) / "silver",
        Path(load_config(local_conf).lake.root) / "silver",
    )
    for job in ("features", "train", "score"):
        assert main([job, "--conf", str(local_conf), "--as-of", AS_OF.isoformat()]) == 0

    def scores(conf: Path):
        return (
            Lake(spark, load_config(conf).lake.root)
            .read_partition("clv_scores", AS_OF)
            .select(*SCORE_COLUMNS)
        )

    on_cluster, local = scores(cluster_conf), scores(local_conf)
    assert on_cluster.count() == local.count() > 200
    assert_approx_df_equality(
        on_cluster.orderBy("customer_key"),
        local.orderBy("customer_key"),
        precision=1e-6,
        ignore_nullable=True,
    )
