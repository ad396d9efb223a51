"""Every clvlake job in one registry: name → the library function that runs it, and `run_step`, which runs one
job for a date (or, for features, several dates in one job) and prints its summary line.

`clv <job>`, `clv pipeline` and the thin `jobs/*.py` entry points all go through here, so a step prints the same
line whichever way it runs. The jobs without a run date (generate, backtest, erase) are plain functions below.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from clvlake import console, lease
from clvlake.config import Config
from clvlake.datagen import generate as generate_landing
from clvlake.errors import InputError, QualityError
from clvlake.features import run as features
from clvlake.ingest import run as ingest
from clvlake.ingest.pseudonymise import check_salt
from clvlake.lake import Lake
from clvlake.privacy import erase as erasure
from clvlake.reporting import run as report
from clvlake.scoring.tiers import tier_summary
from clvlake.session import over_connect

log = logging.getLogger(__name__)
Result = dict[str, object]
ALERTS_SHOWN = 5


def accepted_rows(result: Result) -> int:
    return sum(source.accepted for source in result["sources"])


def written_rows(result: Result) -> int | None:
    return result.get("rows")


def print_training(result: Result) -> None:
    print(console.training_report(result), flush=True)


def raise_on_alerts(result: Result) -> None:
    """Monitoring's breached checks: one JSON line each, then a `QualityError` (exit 2) naming them."""
    alerts = result.get("alerts", [])
    for alert in alerts:
        print(json.dumps(alert), flush=True)
    if alerts:
        checks = ", ".join(f"{a['stage']}/{a['name']}" for a in alerts[:ALERTS_SHOWN])
        more = " …" if len(alerts) > ALERTS_SHOWN else ""
        raise QualityError(f"{len(alerts)} monitoring check(s) breached: {checks}{more}")


def check_lake_salt(spark: SparkSession, cfg: Config) -> None:
    """Stop unless the lake's customer keys were made with the configured salt (`pseudonymise.check_salt`)."""
    check_salt(Lake.open(spark, cfg.lake), cfg.privacy.salt)


@dataclass(frozen=True)
class Job:
    """A dated job: `run(spark, cfg, as_of)`, optionally `run_dates(spark, cfg, dates)` for a backfill in one
    job; `before` checks the lake first; `rows` reads the rows it produced from its result; `after` shows what
    people read (or stops the run)."""

    run: Callable[[SparkSession, Config, date], Result]
    before: Callable[[SparkSession, Config], None] | None = None
    run_dates: Callable[[SparkSession, Config, Sequence[date]], Result] | None = None
    rows: Callable[[Result], int | None] = written_rows
    after: Callable[[Result], None] | None = None
    hidden: tuple[str, ...] = ()  # result keys left out of the summary line


def purge(spark: SparkSession, cfg: Config, as_of: date) -> Result:
    """The daily run's erasure step: vacuum the tables of erasure requests whose purge is due now (wall clock,
    as Delta's VACUUM counts the retention by it, whatever the run date)."""
    return erasure.complete_purges(spark, cfg, datetime.now(timezone.utc))


def imported_on_call(module: str) -> Callable[..., Result]:
    """`module.run`, imported when first called. For the jobs that use MLflow and XGBoost (with them come
    scikit-learn, scipy and pandas: some 200 MB of a driver's memory and 1–2 s of its start): the other commands'
    processes load none of that."""

    def run(*args, **kwargs):
        return importlib.import_module(module).run(*args, **kwargs)

    return run


JOBS: dict[str, Job] = {
    "purge": Job(purge),  # vacuums only: it computes no key
    "ingest": Job(ingest.run, before=check_lake_salt, rows=accepted_rows),
    "features": Job(features.run, before=check_lake_salt, run_dates=features.run_snapshots),
    "train": Job(imported_on_call("clvlake.modeling.train"), before=check_lake_salt, after=print_training),
    "score": Job(imported_on_call("clvlake.scoring.run"), before=check_lake_salt),
    "report": Job(report.run, before=check_lake_salt),
    "monitor": Job(
        imported_on_call("clvlake.monitoring.run"),
        before=check_lake_salt,
        after=raise_on_alerts,
        hidden=("alerts",),
    ),
}


# the commands that fit or apply the model: they need a classic session (`check_session`)
CLASSIC_ONLY = ("train", "score", "backtest")


def check_session(spark: SparkSession, names: Sequence[str]) -> None:
    """Stop before any work if one of the commands cannot run over the session: under Spark Connect, those that
    fit or apply the model (XGBoost's distributed training and MLflow's Spark model flavour use the driver's
    JVM, which a Connect client has none of)."""
    refused = [name for name in names if name in CLASSIC_ONLY]
    if refused and over_connect(spark):
        raise InputError(
            f"{' and '.join(refused)} cannot run over Spark Connect (XGBoost's training and MLflow's Spark models "
            "need the driver's JVM): run them with a classic session (local mode, spark-submit, a classic "
            f"cluster); {', '.join(name for name in JOBS if name not in CLASSIC_ONLY)}, erase and sql run over "
            "Connect"
        )


def lake_lease(spark: SparkSession, cfg: Config, job: str) -> contextlib.AbstractContextManager[None]:
    """The lake's lease (`clvlake.lease`), held while a command writes to the lake."""
    return lease.held(Lake.open(spark, cfg.lake), job, timedelta(minutes=cfg.lake.lease_wait_minutes))


def dates_label(when: date | Sequence[date]) -> str:
    """`2026-01-01`, or `first..last` for several dates."""
    if isinstance(when, date):
        return when.isoformat()
    return f"{min(when).isoformat()}..{max(when).isoformat()}"


def run_step(
    name: str,
    spark: SparkSession,
    cfg: Config,
    when: date | Sequence[date],
    jobs: Mapping[str, Job] = JOBS,
) -> Result:
    """Run job `name` for one date (or several in one job, where the job can) and print its summary line."""
    job = jobs[name]
    check_session(spark, [name])
    if job.before is not None:
        job.before(spark, cfg)
    started = time.monotonic()
    label = dates_label(when)
    log.info("%s: started for %s", name, label)
    if isinstance(when, date):
        result = job.run(spark, cfg, when)
    elif job.run_dates is not None:
        result = job.run_dates(spark, cfg, list(when))
    else:
        raise InputError(f"'{name}' runs one date at a time")
    shown = {k: v for k, v in result.items() if k not in job.hidden}
    print(console.summary_line(name, label, time.monotonic() - started, shown), flush=True)
    if job.after is not None:
        job.after(result)
    return result


def print_tiers(spark: SparkSession, cfg: Config, score_date: date) -> None:
    """The value tiers of a score date, and where the scores are."""
    lake = Lake.open(spark, cfg.lake)
    scores = lake.read_partition("clv_scores", score_date)
    rows = tier_summary(scores, cfg.scoring.tiers).collect()  # one row per tier
    print(console.tier_table(rows, cfg.model.horizon_days, score_date))
    where = f"{lake.name('clv_scores')} at " if lake.namespace else ""
    print(f"\nScores: {where}{lake.path('clv_scores')}  (partition score_date={score_date})", flush=True)


def report_path(cfg: Config, score_date: date) -> str:
    return str(report.report_file(cfg, score_date))


def generate(cfg: Config, customers: int, seed: int, error_rate: float) -> Result:
    """`clv generate`: synthetic landing files of all six sources (and the oracle) → its summary line."""
    started = time.monotonic()
    summary = generate_landing(
        out_dir=cfg.lake.landing,
        oracle_dir=cfg.generator.oracle_dir,
        customers=customers,
        seed=seed,
        start=cfg.generator.start,
        end=cfg.generator.end,
        error_rate=error_rate,
    )
    result = {"landing": cfg.lake.landing, "oracle": cfg.generator.oracle_dir, **asdict(summary)}
    print(console.summary_line("generate", None, time.monotonic() - started, result), flush=True)
    return result


def backtest(spark: SparkSession, cfg: Config, calibration_end: date, holdout_end: date) -> Result:
    """`clv backtest`: its summary line, then the comparison table."""
    started = time.monotonic()
    check_session(spark, ["backtest"])
    check_lake_salt(spark, cfg)
    result = imported_on_call("clvlake.modeling.backtest")(spark, cfg, calibration_end, holdout_end)
    print(console.summary_line("backtest", None, time.monotonic() - started, result), flush=True)
    print(console.backtest_report(result), flush=True)
    return result


def erase(spark: SparkSession, cfg: Config, customer_ids: list[str], erased_at: datetime) -> Result:
    """`clv erase`: its summary line (never the ids themselves)."""
    started = time.monotonic()
    check_lake_salt(spark, cfg)  # a wrong salt would find no subject's key
    result = erasure.erase(spark, cfg, customer_ids, erased_at)
    print(console.summary_line("erase", None, time.monotonic() - started, result), flush=True)
    return result


def erase_complete(spark: SparkSession, cfg: Config, now: datetime) -> Result:
    """`clv erase --complete`: the purges due now, then its summary line."""
    started = time.monotonic()
    result = erasure.complete_purges(spark, cfg, now)
    print(console.summary_line("erase", None, time.monotonic() - started, result), flush=True)
    return result


def erase_status(spark: SparkSession, cfg: Config, now: datetime) -> None:
    """`clv erase --status`: one line per pending purge (request, tables, due date), or that there is none."""
    pending = erasure.pending_purges(Lake.open(spark, cfg.lake))
    for purge in pending:
        print(erasure.status_line(purge, now), flush=True)
    if not pending:
        print("no pending erasure purges", flush=True)


def query(spark: SparkSession, cfg: Config, sql: str, rows: int) -> None:
    """`clv sql`: a query on the lake's tables by catalog name, its first `rows` printed (catalog mode only)."""
    lake = Lake.open(spark, cfg.lake)
    if not lake.namespace:
        raise InputError(
            f"clv sql finds tables by name: set 'lake.schema' in {cfg.source_file} (catalog mode); in path mode "
            f"query a table by its folder, e.g. SELECT * FROM delta.`{lake.path('clv_scores')}`"
        )
    lake.register_all()
    spark.sql(f"USE {lake.namespace}")
    try:
        spark.sql(sql).show(rows, truncate=False)
    except AnalysisException as err:  # a parse error too: one line naming what is wrong, not a traceback
        first_line = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise InputError(f"clv sql: {first_line.strip()}") from None
