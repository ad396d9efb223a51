"""`clv` commands in their own processes, for tests that kill one or run two at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.config import REPO


def start_clv(args: list[str], scratch: Path, output=subprocess.DEVNULL) -> subprocess.Popen:
    """`clv <args>` in its own process, with its own Spark scratch folder."""
    return subprocess.Popen(
        [sys.executable, "-m", "clvlake.cli", *args],
        cwd=REPO,
        env={**os.environ, "CLVLAKE_SCRATCH": str(scratch)},
        stdout=output,
        stderr=output,
        text=True,
    )


def wait_until(
    happened: Callable[[], bool], processes: list[subprocess.Popen], timeout: float = 600, every: float = 0.05
) -> None:
    """Poll `happened()` every `every` seconds until it holds (a check that costs a Spark query, on a point a
    process stays at for seconds, polls less often, leaving the cores to the processes); an error if one of the
    processes ended first (with its error output, where the test captured it), or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not happened():
        for process in processes:
            if process.poll() is not None:
                output = process.communicate()[1] if process.stderr else ""
                raise AssertionError(f"ended before it was expected to: {process.args}\n{output}")
        assert time.monotonic() < deadline, f"not within {timeout:g} s"
        time.sleep(every)


def kill_when(process: subprocess.Popen, happened: Callable[[], bool], every: float = 0.05) -> None:
    """SIGKILL the process as soon as `happened()` holds (`wait_until`); it must not have ended first."""
    try:
        wait_until(happened, [process], every=every)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the process ended before the point to kill it at"


def data_files(table: Path) -> set[Path]:
    """The table's Parquet files (outside `_delta_log`)."""
    return {p for p in table.rglob("*.parquet") if "_delta_log" not in p.parts}


def commits(table: Path) -> set[Path]:
    return set((table / "_delta_log").glob("*.json"))
