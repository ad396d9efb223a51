"""`clv <job>`: the command line of every job, and the entry point the thin `jobs/*.py` files call.

Arguments in, one call into `clvlake.jobs` out. A configuration or input problem prints `error: …` without a
traceback and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime, timezone

from clvlake.config import load_config
from clvlake.errors import ClvError, InputError

DEFAULT_CONF = "conf/local.yml"
JAVA_OUT_OF_MEMORY = "java.lang.OutOfMemoryError"
DATED_JOBS = ("purge", "ingest", "features", "train", "score", "report", "monitor")


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def add_dates(sub: argparse.ArgumentParser, as_of_help: str) -> None:
    """--as-of D, or a backfill --from D1 --to D2 [--every day|week|month]."""
    when = sub.add_mutually_exclusive_group(required=True)
    when.add_argument("--as-of", type=parse_date, metavar="YYYY-MM-DD", help=as_of_help)
    when.add_argument(
        "--from", dest="start", type=parse_date, metavar="YYYY-MM-DD", help="backfill: first date"
    )
    sub.add_argument(
        "--to", dest="end", type=parse_date, metavar="YYYY-MM-DD", help="backfill: last date (inclusive)"
    )
    sub.add_argument(
        "--every", choices=("day", "week", "month"), default="month", help="backfill step (default month)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clv", description="clvlake: customer lifetime value on a Delta Lake."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    jobs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, as_of: bool = True) -> argparse.ArgumentParser:
        sub = jobs.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--conf", default=DEFAULT_CONF, help=f"YAML config (default {DEFAULT_CONF})")
        if as_of:
            sub.add_argument(
                "--as-of",
                required=True,
                type=parse_date,
                metavar="YYYY-MM-DD",
                help="run date: features and scores use events strictly before it",
            )
        return sub

    gen = add("generate", "write synthetic landing files for all six sources (and the oracle)", as_of=False)
    gen.add_argument("--customers", type=int, default=10_000, help="number of customers (default 10000)")
    gen.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    gen.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        help="share of injected bad rows, for quarantine demos (default 0)",
    )
    add(
        "purge",
        "vacuum the tables of erasures whose retention has passed (the daily pipeline's first step; a no-op "
        "when none is due)",
    )
    add("ingest", "landing files → silver Delta tables (+ quarantine)")
    features = add(
        "features",
        "silver → customer_features at the as-of date, or at every date of a backfill",
        as_of=False,
    )
    add_dates(features, "one snapshot: features use events strictly before it")
    add("train", "train, evaluate and register the CLV model (labels end at the as-of date)")
    add("score", "score every customer at the as-of date → clv_scores")
    backtest = add(
        "backtest",
        "fit every model form and baseline on a customer split, write predictions and metrics of each",
        as_of=False,
    )
    for flag, what in (
        ("--calibration-end", "features use events before it; the label window starts on it"),
        ("--holdout-end", "the label window ends the day before it"),
    ):
        backtest.add_argument(flag, required=True, type=parse_date, metavar="YYYY-MM-DD", help=what)
    add(
        "report",
        "segment tables, what-if, budget, campaign export and the HTML report of the score date (after score)",
    )
    pipeline = add(
        "pipeline",
        "ingest → features → train → score → report for one date (then the value tiers), or a backfill",
        as_of=False,
    )
    add_dates(pipeline, "the run date: ingest, then features, scores and report as of it")
    pipeline.add_argument(
        "--skip-train",
        action="store_true",
        help="backfill: score every date with the current champion instead of training for each",
    )
    add("monitor", "data-quality checks, drift and realised vs predicted value; exit 2 and alert on a breach")
    erasure = add(
        "erase",
        "remove customers from every current table now (erasure_audit row); their old versions are vacuumed "
        "once privacy.vacuum_retention_hours passed, by the daily pipeline or --complete",
        as_of=False,
    )
    what = erasure.add_mutually_exclusive_group(required=True)
    what.add_argument("--customer-id", action="append", metavar="ID", help="a customer id (repeatable)")
    what.add_argument("--ids-file", metavar="PATH", help="a file of customer ids, one per line")
    what.add_argument(
        "--status", action="store_true", help="list the erasures whose old versions await purging"
    )
    what.add_argument(
        "--complete", action="store_true", help="vacuum the tables of every erasure whose purge is due now"
    )
    query = add(
        "sql",
        "catalog mode: run a SQL query on the lake's tables by name (e.g. SELECT * FROM clv_scores) and print "
        "its first rows",
        as_of=False,
    )
    query.add_argument("query", help="the SQL text; the lake's schema is the current one")
    query.add_argument("--rows", type=int, default=20, help="rows to print (default 20)")
    return parser


def run_dates(args: argparse.Namespace) -> date | list[date] | None:
    """The run date (`--as-of`), the dates of a backfill (`--from … --to … --every …`), or None."""
    if getattr(args, "skip_train", False) and args.as_of is not None:
        raise InputError("--skip-train is for backfills (--from … --to …)")
    if getattr(args, "start", None) is not None:
        from clvlake.dates import backfill_dates

        return backfill_dates(args.start, args.end, args.every)
    return getattr(args, "as_of", None)


def run_pipeline(spark, cfg, when: date | list[date], train: bool) -> None:
    """`clv pipeline`: one summary line per step and one for the run (also when a step fails), then the value
    tiers and the report of the last date."""
    from clvlake import jobs
    from clvlake.pipeline import STEPS, PipelineRun

    jobs.check_session(spark, STEPS)  # every run scores: no step starts where one cannot
    run = PipelineRun(spark, cfg)
    try:
        if isinstance(when, date):
            run.one_date(when)
        else:
            run.backfill(when, train=train)
    finally:
        print(run.summary_line(), flush=True)
    last = run.dates[-1]
    jobs.print_tiers(spark, cfg, last)
    print(f"Report: {jobs.report_path(cfg, last)}", flush=True)


def execute(args: argparse.Namespace) -> None:
    """Check config and arguments, then hand over to `clvlake.jobs` (imported here, after parsing, so
    `clv --help` and argument errors answer at once)."""
    cfg = load_config(args.conf)
    when = run_dates(args)
    ids = None
    if args.command == "erase" and not (args.status or args.complete):
        from clvlake.privacy.erase import read_ids_file

        ids = args.customer_id or read_ids_file(args.ids_file)
    from clvlake import jobs, session

    if args.command == "generate":
        jobs.generate(cfg, args.customers, args.seed, args.error_rate)
        return
    spark = session.get_spark(cfg.spark, quiet=not args.verbose, lake=cfg.lake)
    read_only = (args.command == "erase" and args.status) or args.command == "sql"
    with contextlib.nullcontext() if read_only else jobs.lake_lease(spark, cfg, args.command):
        run_command(args, spark, cfg, when, ids)


def run_command(
    args: argparse.Namespace, spark, cfg, when: date | list[date] | None, ids: list[str] | None
) -> None:
    """Hand a command that uses Spark to `clvlake.jobs`."""
    from clvlake import jobs

    if args.command in DATED_JOBS:
        jobs.run_step(args.command, spark, cfg, when)
        if args.command == "report":
            print(f"Report: {jobs.report_path(cfg, when)}", flush=True)
    elif args.command == "pipeline":
        run_pipeline(spark, cfg, when, train=not args.skip_train)
    elif args.command == "backtest":
        jobs.backtest(spark, cfg, args.calibration_end, args.holdout_end)
    elif args.command == "erase" and args.status:
        jobs.erase_status(spark, cfg, datetime.now(timezone.utc))
    elif args.command == "erase" and args.complete:
        jobs.erase_complete(spark, cfg, datetime.now(timezone.utc))
    elif args.command == "erase":
        jobs.erase(spark, cfg, ids, datetime.now(timezone.utc))
    elif args.command == "sql":
        jobs.query(spark, cfg, args.query, args.rows)


def configure_logging(verbose: bool) -> None:
    # MLflow sets its own loggers' level when imported (later): it reads this variable
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "DEBUG" if verbose else "WARNING")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("py4j", "mlflow", "alembic", "urllib3", "XGBoost-PySpark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # PySpark logs every failed query with the JVM's stack trace before raising it; clvlake reports the error
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        execute(args)
    except ClvError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # Py4J's error carries the JVM's; nothing else is caught here
        if JAVA_OUT_OF_MEMORY not in str(err):
            raise
        print(
            f"error: clv {args.command} ran out of Java heap memory; raise spark.driver_memory in {args.conf} "
            "(local mode: the driver runs the tasks too) or the executors' memory on a cluster, and run it "
            "again (every job replaces its own output, so a rerun is safe)",
            file=sys.stderr,
        )
        return 2
    return 0


def job_main(job: str) -> None:
    """For `spark-submit jobs/<job>.py --conf … --as-of …`."""
    sys.exit(main([job, *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
