"""`clv <job>`: the command line for every job, and the entry point the thin `jobs/*.py` files call.

Each job builds config and session, runs one library function and prints one JSON summary line (rows, table
versions, duration). A configuration or input problem prints `error: …` without a traceback and exits 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date

from clvlake.config import Config, load_config
from clvlake.errors import ClvError, InputError, QualityError

log = logging.getLogger("clvlake")
DEFAULT_CONF = "conf/local.yml"


def _job(name: str) -> Callable:
    """The `run(spark, cfg, as_of)` of a job, imported lazily so `clv --help` stays fast."""
    from importlib import import_module

    module = {
        "ingest": "clvlake.ingest.run",
        "features": "clvlake.features.run",
        "train": "clvlake.modeling.train",
        "score": "clvlake.scoring.run",
        "report": "clvlake.reporting.run",
        "monitor": "clvlake.monitoring.run",
    }[name]
    return import_module(module).run


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


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
        "erase", "remove customers from every table, vacuum, and write an erasure_audit row", as_of=False
    )
    who = erasure.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer-id", action="append", metavar="ID", help="a customer id (repeatable)")
    who.add_argument("--ids-file", metavar="PATH", help="a file of customer ids, one per line")
    return parser


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


def backfill_dates(args: argparse.Namespace) -> list[date]:
    from clvlake.features.run import snapshot_dates

    if args.end is None:
        raise InputError("--from needs --to (the last date of the backfill)")
    return snapshot_dates(args.start, args.end, args.every)


def _json_default(value: object) -> object:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return str(value)


def summary_line(job: str, as_of: date | None, started: float, result: dict[str, object]) -> str:
    record = {
        "job": job,
        "as_of": as_of.isoformat() if as_of else None,
        "status": "ok",
        "seconds": round(time.monotonic() - started, 1),
        **result,
    }
    return json.dumps(record, default=_json_default)


def run_step(name: str, spark, cfg: Config, as_of: date) -> dict[str, object]:
    started = time.monotonic()
    log.info("%s: started for %s", name, as_of)
    result = _job(name)(spark, cfg, as_of)
    table = result.pop("comparison_table", None)
    alerts = result.pop("alerts", [])
    print(summary_line(name, as_of, started, result), flush=True)
    if table:
        print_comparison(table, result)
    for alert in alerts:
        print(json.dumps(alert), flush=True)
    if alerts:
        checks = ", ".join(f"{a['stage']}/{a['name']}" for a in alerts[:5])
        raise QualityError(
            f"{len(alerts)} monitoring check(s) breached: {checks}{' …' if len(alerts) > 5 else ''}"
        )
    return result


def print_comparison(table: str, result: dict[str, object]) -> None:
    """`clv train`: the method × metric table on held-out customers, then whether the champion moved."""
    print(f"\nHeld-out customers at {result['training_snapshot']} (trained form: {result['form']})\n{table}")
    moved = "moved to" if result["champion_moved"] else "kept; new"
    print(f"\nchampion {moved} version {result['model_version']}: {result['champion_reason']}\n", flush=True)


def backtest(cfg: Config, args: argparse.Namespace) -> None:
    """`clv backtest --calibration-end … --holdout-end …`: one summary line, then the comparison table."""
    from clvlake.modeling.backtest import TABLE_COLUMNS, comparison_table
    from clvlake.modeling.backtest import run as run_backtest
    from clvlake.session import get_spark

    started = time.monotonic()
    result = run_backtest(get_spark(cfg.spark), cfg, args.calibration_end, args.holdout_end)
    print(summary_line("backtest", None, started, result), flush=True)
    print(f"\nHeld-out customers, {args.calibration_end} to {args.holdout_end}")
    print(comparison_table(result["metrics"], TABLE_COLUMNS), flush=True)


def print_tier_table(spark, cfg: Config, as_of: date) -> None:
    from clvlake.lake import Lake
    from clvlake.scoring.tiers import tier_summary

    scores = Lake(spark, cfg.lake.root).read_partition("clv_scores", as_of)
    rows = tier_summary(scores, cfg.scoring.tiers).collect()  # one row per tier
    print(f"\nPredicted {cfg.model.horizon_days}-day customer value by tier, score date {as_of}")
    print(f"{'tier':<12}{'customers':>10}{'avg CLV':>12}{'total CLV':>15}{'share':>8}")
    for row in rows:
        print(
            f"{row['value_tier']:<12}{row['customers']:>10,}{row['avg_clv']:>12,.2f}"
            f"{row['total_clv']:>15,.0f}{row['value_share']:>8.1%}"
        )
    print(f"\nScores: {Lake(spark, cfg.lake.root).path('clv_scores')}  (partition score_date={as_of})")


def report_path(cfg: Config, as_of: date) -> str:
    from clvlake.reporting.run import report_file

    return str(report_file(cfg, as_of))


def generate(cfg: Config, args: argparse.Namespace) -> None:
    from clvlake.datagen import generate as generate_landing

    if args.customers <= 0:
        raise InputError("--customers must be positive")
    summary = generate_landing(
        out_dir=cfg.lake.landing,
        oracle_dir=cfg.generator.oracle_dir,
        customers=args.customers,
        seed=args.seed,
        start=cfg.generator.start,
        end=cfg.generator.end,
        error_rate=args.error_rate,
    )
    print(
        json.dumps(
            {
                "job": "generate",
                "status": "ok",
                "landing": cfg.lake.landing,
                "oracle": cfg.generator.oracle_dir,
                **dataclasses.asdict(summary),
            },
            default=str,
        )
    )


def backfill_features(cfg: Config, args: argparse.Namespace) -> None:
    """`clv features --from … --to … --every …`: every snapshot in one job, one summary line."""
    from clvlake.features.run import run_snapshots
    from clvlake.session import get_spark

    snapshots = backfill_dates(args)
    started = time.monotonic()
    result = run_snapshots(get_spark(cfg.spark), cfg, snapshots)
    extra = {"from": args.start.isoformat(), "to": args.end.isoformat(), "every": args.every}
    print(summary_line("features", None, started, {**extra, **result}), flush=True)


def pipeline(cfg: Config, args: argparse.Namespace) -> None:
    """`clv pipeline`: the steps for one date or a backfill, one summary line per step and one for the run."""
    from clvlake.pipeline import Pipeline
    from clvlake.session import get_spark

    if args.as_of is not None and args.skip_train:
        raise InputError("--skip-train is for backfills (--from … --to …)")
    dates = [args.as_of] if args.as_of is not None else backfill_dates(args)
    spark = get_spark(cfg.spark)
    run = Pipeline(spark, cfg, run_step)
    try:
        if args.as_of is not None:
            run.one_date(args.as_of)
        else:
            run.backfill(dates, train=not args.skip_train)
    finally:
        print(run.summary_line(), flush=True)  # also when a step failed: status, failed step and error
    print_tier_table(spark, cfg, dates[-1])
    print(f"Report: {report_path(cfg, dates[-1])}", flush=True)


def erase(cfg: Config, args: argparse.Namespace) -> None:
    """`clv erase --customer-id ID | --ids-file PATH`: one summary line (never the ids themselves)."""
    from datetime import datetime, timezone

    from clvlake.privacy.erase import erase as erase_subjects
    from clvlake.privacy.erase import read_ids_file
    from clvlake.session import get_spark

    started = time.monotonic()
    ids = args.customer_id or read_ids_file(args.ids_file)
    result = erase_subjects(get_spark(cfg.spark), cfg, ids, datetime.now(timezone.utc))
    print(summary_line("erase", None, started, result), flush=True)


def execute(args: argparse.Namespace) -> None:
    cfg = load_config(args.conf)
    standalone = {"generate": generate, "erase": erase, "backtest": backtest, "pipeline": pipeline}
    if args.command == "features" and args.as_of is None:
        standalone["features"] = backfill_features
    if args.command in standalone:
        standalone[args.command](cfg, args)
        return
    from clvlake.session import get_spark

    run_step(args.command, get_spark(cfg.spark), cfg, args.as_of)
    if args.command == "report":
        print(f"Report: {report_path(cfg, args.as_of)}", flush=True)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("py4j", "mlflow", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        execute(args)
    except ClvError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def job_main(job: str) -> None:
    """For `spark-submit jobs/<job>.py --conf … --as-of …`."""
    sys.exit(main([job, *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
