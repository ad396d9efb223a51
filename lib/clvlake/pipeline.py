"""`clv pipeline`: the daily steps for one date, or a backfill over many dates, and the run's summary.

A backfill recomputes the derived tables of past dates from silver: features for every date in one job, then
train (unless skipped), score and report per date. It does not ingest: ingest validates timestamps against its
run date, so ingesting "as of" a past date would quarantine every later event. Load first with
`clv ingest --as-of <today>`. Every step replaces its own partitions, so re-running a date replaces that date.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from clvlake.config import Config
from clvlake.jobs import JOBS, Job, dates_label, run_step

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
# purge first: a cheap no-op unless an erasure's old versions are due for VACUUM, and never held up by a failing step
STEPS = ("purge", "ingest", "features", "train", "score", "report")
BACKFILL_STEPS = ("train", "score", "report")  # per date, after one features job for all dates


@dataclass
class StepRecord:
    step: str
    as_of: str  # the date, or "<first>..<last>" for the backfill's single features job
    seconds: float
    rows: int | None  # rows accepted (ingest) or written (features, score); None for the others
    table_versions: dict[str, int] = field(default_factory=dict)


class PipelineRun:
    """Runs steps in order through the job registry and keeps what the summary line reports; a failing step
    ends the run."""

    def __init__(self, spark: SparkSession, cfg: Config, jobs: Mapping[str, Job] = JOBS):
        self.spark, self.cfg, self.jobs = spark, cfg, jobs
        self.started = time.monotonic()
        self.dates: list[date] = []
        self.records: list[StepRecord] = []
        self.model_version: str | None = None
        self.failure: dict[str, str] | None = None

    def _step(self, step: str, when: date | Sequence[date]) -> None:
        begin, label = time.monotonic(), dates_label(when)
        try:
            result = run_step(step, self.spark, self.cfg, when, self.jobs)
        except Exception as err:
            self.failure = {"step": step, "as_of": label, "error": f"{type(err).__name__}: {err}"}
            raise
        self.model_version = result.get("model_version", self.model_version)
        self.records.append(
            StepRecord(
                step,
                label,
                round(time.monotonic() - begin, 1),
                self.jobs[step].rows(result),
                dict(result.get("table_versions", {})),
            )
        )

    def one_date(self, as_of: date) -> None:
        self.dates = [as_of]
        for i, step in enumerate(STEPS, start=1):
            log.info("pipeline step %d/%d: %s", i, len(STEPS), step)
            self._step(step, as_of)

    def backfill(self, dates: list[date], train: bool = True) -> None:
        self.dates = list(dates)
        log.info("pipeline backfill: %d dates %s; features in one job", len(dates), dates_label(dates))
        self._step("features", dates)
        steps = [s for s in BACKFILL_STEPS if train or s != "train"]
        for i, as_of in enumerate(dates, start=1):
            log.info("pipeline backfill: date %d/%d (%s): %s", i, len(dates), as_of, ", ".join(steps))
            for step in steps:
                self._step(step, as_of)

    def summary(self) -> dict[str, object]:
        """Status, dates, total seconds, every step's record, the model version and the last table versions."""
        versions: dict[str, int] = {}
        for record in self.records:
            versions.update(record.table_versions)
        return {
            "job": "pipeline",
            "status": "failed" if self.failure else "ok",
            "dates": [d.isoformat() for d in self.dates],
            "seconds": round(time.monotonic() - self.started, 1),
            "model_version": self.model_version,
            "steps": [asdict(r) for r in self.records],
            "table_versions": versions,
            **({"failure": self.failure} if self.failure else {}),
        }

    def summary_line(self) -> str:
        return json.dumps(self.summary(), default=str)
