"""`clv ingest` killed with SIGKILL part-way and re-run, or run twice at once, leaves every table as one
uninterrupted run does."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from clvlake import lease
from clvlake.config import load_config
from clvlake.ingest import run as ingest
from clvlake.lake import Lake
from tests.support.config import make_config, write_config
from tests.support.lake import snapshot
from tests.support.landing import mapping_file, write_landing
from tests.support.process import kill_when, start_clv, wait_until

pytestmark = pytest.mark.slow
AS_OF = date(2025, 1, 1)


def ingest_settings(root: Path) -> dict:
    return {"max_quarantine_rate": 0.9, "transaction_sources": [mapping_file(root)]}


@pytest.fixture(scope="module")
def uninterrupted(spark, tmp_path_factory) -> tuple[Path, dict]:
    """The landing files and every table of one uninterrupted in-process ingest of them."""
    root = tmp_path_factory.mktemp("uninterrupted")
    cfg = make_config(root, ingest=ingest_settings(root))
    write_landing(Path(cfg.lake.landing))
    ingest.run(spark, cfg, AS_OF)
    expected = snapshot(Lake(spark, cfg.lake.root))
    assert set(expected) >= {"orders", "quarantine", "customer_identity", "ingested_files", "orders_raw"}
    return Path(cfg.lake.landing), expected


def config_reading(root: Path, landing: Path) -> Path:
    """A config of a new lake under `root` that reads the shared landing files."""
    return write_config(root, ingest=ingest_settings(root), lake={"landing": str(landing)})


def ingest_args(conf: Path) -> list[str]:
    return ["ingest", "--conf", str(conf), "--as-of", AS_OF.isoformat()]


def test_killed_and_rerun_equals_uninterrupted(spark, tmp_path, uninterrupted):
    landing, expected = uninterrupted
    conf = config_reading(tmp_path, landing)
    killed_cfg = load_config(conf)
    killed = Lake(spark, killed_cfg.lake.root)

    # SIGKILLed as soon as silver `orders` has its first MERGE
    first_merge = Path(killed.path("orders")) / "_delta_log" / f"{1:020d}.json"
    kill_when(start_clv(ingest_args(conf), tmp_path / "scratch"), first_merge.exists)
    assert killed.exists("orders") and not killed.exists("ingested_files")  # killed part-way
    ingest.run(spark, killed_cfg, AS_OF)
    assert snapshot(killed) == expected


def test_two_ingests_at_once_equal_one(spark, tmp_path, uninterrupted):
    """Both read the same new files; the lake's lease lets one load them while the other waits, then finds
    them loaded (without it both would load them, and log them as read twice). The test holds the lease until
    both wait for it, so that they surely overlap however slowly either process starts."""
    landing, expected = uninterrupted
    conf = config_reading(tmp_path, landing)
    lake = Lake(spark, load_config(conf).lake.root)
    logs = [tmp_path / f"clv-{n}.log" for n in (1, 2)]
    with lease.held(lake, "pytest", timedelta(0)):
        outputs = [log.open("w") for log in logs]
        runs = [start_clv(ingest_args(conf), tmp_path / f"scratch-{n}", out) for n, out in enumerate(outputs)]
        for out in outputs:
            out.close()  # each process writes to its own copy
        waiting = "waiting for the lake: it is being written by clv pytest"
        wait_until(lambda: all(waiting in log.read_text() for log in logs), runs)
    for run in runs:
        run.wait(timeout=900)
    texts = [log.read_text() for log in logs]
    assert [run.returncode for run in runs] == [0, 0], texts
    assert sum("waiting for the lake: it is being written by clv ingest" in text for text in texts) == 1, (
        texts
    )
    assert snapshot(lake) == expected
