"""An ingest run killed with SIGKILL part-way, then re-run, leaves every table as one uninterrupted run does."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from clvlake.config import LakeSettings, load_config
from clvlake.ingest import run as ingest
from clvlake.lake import Lake
from tests.support.config import REPO, make_config, write_config
from tests.support.lake import snapshot
from tests.support.landing import mapping_file, write_landing

pytestmark = pytest.mark.slow
AS_OF = date(2025, 1, 1)


def kill_after_first_silver_commit(conf: Path, lake: Lake, scratch: Path) -> None:
    """Start `clv ingest` in its own process; SIGKILL it as soon as silver `orders` has its first MERGE."""
    commit = Path(lake.path("orders")) / "_delta_log" / f"{1:020d}.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "clvlake.cli", "ingest", "--conf", str(conf), "--as-of", AS_OF.isoformat()],
        cwd=REPO,
        env={**os.environ, "CLVLAKE_SCRATCH": str(scratch)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not commit.exists() and process.poll() is None:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL


def test_killed_and_rerun_equals_uninterrupted(spark, tmp_path):
    ingest_conf = {"max_quarantine_rate": 0.9, "transaction_sources": [mapping_file(tmp_path)]}
    conf = write_config(tmp_path / "killed", ingest=ingest_conf)
    killed_cfg = load_config(conf)
    write_landing(Path(killed_cfg.lake.landing))
    killed = Lake(spark, killed_cfg.lake.root)

    kill_after_first_silver_commit(conf, killed, tmp_path / "scratch")
    assert killed.exists("orders") and not killed.exists("ingested_files")  # killed part-way
    ingest.run(spark, killed_cfg, AS_OF)

    clean_cfg = make_config(tmp_path / "clean", ingest=ingest_conf)
    clean_cfg = dataclasses.replace(
        clean_cfg, lake=LakeSettings(root=clean_cfg.lake.root, landing=killed_cfg.lake.landing)
    )
    ingest.run(spark, clean_cfg, AS_OF)
    clean = Lake(spark, clean_cfg.lake.root)
    expected = snapshot(clean)
    assert set(expected) >= {"orders", "quarantine", "customer_identity", "ingested_files", "orders_raw"}
    assert snapshot(killed) == expected
