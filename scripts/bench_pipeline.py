"""Benchmark: the whole pipeline stage by stage at N customers, then a next-day run; DuckDB as ingest's peer.

    python scripts/bench_pipeline.py --sizes 10k            # make bench-pipeline
    python scripts/bench_pipeline.py --sizes 10k,100k,1M    # 1M: ~8 GB of landing files, over an hour

For each size, in its own temporary folder under --work-dir (a config derived from conf/local.yml is written
next to the lake as clvlake.yml, so any step can be re-run by hand with `clv … --conf`):

1. `clv generate --customers N` with the generator's end on the as-of date A; the rows of day A (all six
   sources, routed by their timestamp) are moved out of the landing files, line by line, into the next day's
   files. The initial landing thus holds the events before A, which the first run's features use in full.
2. the initial run: `clv ingest`, `features`, `train`, `score`, `report` --as-of A, each its own process;
3. the peer, on the same initial landing files: DuckDB loads and validates them into Parquet (typed parse,
   required fields, timestamp range, currency, de-duplication by key, refunds joined to orders, salted sha256 of
   the customer id), the single-node bound for ingest;
4. the next-day run: day A's files land, then `clv ingest`, `features`, `score`, `report` --as-of A + 1 (no
   training, as a daily job with a weekly retraining would run);
5. at 10k customers (`make demo`'s size), the initial run once more as `make demo` runs it: `clv pipeline
   --as-of A`, ingest to report in one process, on a copy of the initial landing in a lake of its own.

Per stage: seconds, input rows per second (landing rows for ingest, silver rows loaded so far for features,
feature rows for train and score, scored customers for report), the peak resident memory of the Python driver
and of its child processes (Spark's JVM), Delta commits (new `_delta_log/*.json`), data files written (new
`.parquet` outside `_delta_log`) and the lake's file count after the stage. Results go to
bench/results/pipeline.json and pipeline.md with the targets of issue 16.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bench_features import label, parse_bench_args, parse_size, run_worker, tree_rss
from checks import Target, target_table, work_config, write_results

REPO = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 1, 1)
INITIAL = ("ingest", "features", "train", "score", "report")
NEXT_DAY = ("ingest", "features", "score", "report")
POLL_SECONDS = 0.2
ONE_PROCESS_SIZES = (10_000,)  # also run as `make demo` runs the pipeline: one `clv pipeline` process
PEER_TYPES = {  # raw column → DuckDB type of the typed parse (other columns stay text)
    **dict.fromkeys(("signup_ts", "order_ts", "refund_ts", "session_start", "event_ts"), "ts"),
    **dict.fromkeys(("opened_ts", "closed_ts"), "ts"),
    **dict.fromkeys(("gross_amount", "discount_amount", "shipping_cost", "cost_of_goods", "amount"), "money"),
    **dict.fromkeys(("items", "pages_viewed", "satisfaction"), "INTEGER"),
    "marketing_consent": "BOOLEAN",
}


# ---- landing files: the next day held back, rows counted, all streamed ----------------------------------------
def row_date(line: str, ts_field: str | int) -> str | None:
    """The date (YYYY-MM-DD) of a landing line's timestamp (a CSV column index or a JSON field name), or None
    when the line has no readable one."""
    try:
        value = (
            next(csv.reader([line]))[ts_field] if isinstance(ts_field, int) else json.loads(line)[ts_field]
        )
    except (ValueError, IndexError, KeyError, StopIteration, TypeError):
        return None
    return value[:10] if isinstance(value, str) else None


def hold_back_day(landing: Path, next_day: Path, day: date) -> int:
    """Moves the rows of `day` out of every landing file into <next_day>/<source>/<source>_<day>.<fmt> (same
    header), streaming line by line; a landing file left without rows is removed. Returns the rows moved."""
    from clvlake.datagen.generator import SOURCES

    moved, stamp = 0, day.isoformat()
    for spec in SOURCES.values():
        target = next_day / spec.name / f"{spec.name}_{stamp}.{spec.fmt}"
        for path in sorted((landing / spec.name).glob(f"*_{stamp[:7]}.{spec.fmt}")):  # the month of `day`
            kept_path, held = path.with_suffix(".keep"), 0
            target.parent.mkdir(parents=True, exist_ok=True)
            with path.open() as src, kept_path.open("w") as kept, target.open("a") as out:
                header_line = src.readline() if spec.fmt == "csv" else ""
                ts_field = (
                    next(csv.reader([header_line])).index(spec.ts_column) if header_line else spec.ts_column
                )
                kept.write(header_line)
                if header_line and out.tell() == 0:
                    out.write(header_line)
                rows = 0
                for line in src:
                    rows += 1
                    if row_date(line, ts_field) == stamp:
                        out.write(line)
                        held += 1
                    else:
                        kept.write(line)
            moved += held
            if held == rows:
                kept_path.unlink()
                path.unlink()
            else:
                kept_path.replace(path)
            if not held and target.stat().st_size <= len(header_line):  # no row of the day: no file
                target.unlink()
    return moved


def landing_files(landing: Path) -> list[Path]:
    return sorted(p for p in landing.rglob("*") if p.suffix in (".csv", ".jsonl"))


def count_rows(files: list[Path]) -> int:
    """Data lines of landing files (CSV headers not counted), read in blocks."""
    rows = 0
    for path in files:
        with path.open("rb") as f:
            lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 24), b""))
        rows += lines - (path.suffix == ".csv")
    return rows


# ---- the lake: commits and data files, by listing ----------------------------------------------------------
@dataclass(frozen=True)
class LakeFiles:
    commits: frozenset[str]  # _delta_log/*.json
    data: frozenset[str]  # .parquet outside _delta_log
    total: int  # every file under the lake root

    @classmethod
    def of(cls, root: Path) -> LakeFiles:
        commits, data, total = set(), set(), 0
        for folder, _, names in os.walk(root):
            in_log = "_delta_log" in Path(folder).parts
            total += len(names)
            for name in names:
                path = os.path.join(folder, name)
                if in_log and name.endswith(".json"):
                    commits.add(path)
                elif not in_log and name.endswith(".parquet"):
                    data.add(path)
        return cls(frozenset(commits), frozenset(data), total)


# ---- one stage: a process, polled for memory -----------------------------------------------------------------
def run_stage(cmd: list[str], log_path: Path) -> dict:
    """Runs `cmd` (this checkout's lib first on the path) with its output in `log_path`, polling the resident
    memory of the process (the Python driver) and of its descendants (Spark's JVM): seconds, return code, the
    peaks in MB, the last JSON summary line it printed and its last `error:` line."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "lib"), os.environ.get("PYTHONPATH", "")])}
    peak_python = peak_children = 0
    loads = []  # the machine's 1-minute load average at each poll: other work on it shows here
    started = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, text=True)
        while proc.poll() is None:
            tree, own = tree_rss(proc.pid)
            peak_python, peak_children = max(peak_python, own), max(peak_children, tree - own)
            loads.append(os.getloadavg()[0])
            time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    lines = log_path.read_text(errors="replace").splitlines()
    summaries = [json.loads(line) for line in lines if line.startswith('{"job"')]
    errors = [line for line in lines if line.startswith("error:")]
    return {
        "status": "ok" if proc.returncode == 0 else "failed",
        "returncode": proc.returncode,
        "seconds": seconds,
        "python_peak_mb": peak_python / 2**20,
        "jvm_peak_mb": peak_children / 2**20,
        "mean_load": sum(loads) / len(loads) if loads else None,
        "summary": summaries[-1] if summaries else None,
        "error": errors[-1] if errors else None,
    }


def clv(command: str, conf: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "clvlake.cli", command, "--conf", str(conf), *args]


def input_rows(stage: str, state: dict) -> int | None:
    """What a stage reads, in rows (see the module's docstring), from the run's `state`."""
    if stage in ("ingest", "features"):
        return state["landing_rows" if stage == "ingest" else "silver_rows"]
    previous = state.get("score" if stage == "report" else "features") or {}  # train and score read features
    return (previous.get("summary") or {}).get("rows")


def run_stages(
    run: str, stages: tuple[str, ...], conf: Path, lake: Path, as_of: date, state: dict, results: list, save
) -> None:
    """The stages of one run in order (stopping at the first that fails), each measured into `results` and
    saved (`save()`) as it ends; `state` carries the silver rows loaded so far and the latest summaries."""
    for stage in stages:
        before = LakeFiles.of(lake)
        result = run_stage(clv(stage, conf, "--as-of", as_of.isoformat()), conf.parent / f"{run}-{stage}.log")
        after = LakeFiles.of(lake)
        if stage == "ingest" and result["summary"]:
            state["silver_rows"] += sum(s["accepted"] for s in result["summary"]["sources"])
        rows = input_rows(stage, state)
        state[stage] = result
        result.update(
            stage=stage,
            input_rows=rows,
            rows_per_second=rows / result["seconds"] if rows else None,
            delta_commits=len(after.commits - before.commits),
            data_files_written=len(after.data - before.data),
            lake_data_files=len(after.data),
            lake_files=after.total,
        )
        results.append(result)
        save()
        print(f"  {run} {stage}: {result['status']} in {result['seconds']:.1f} s", flush=True)
        if result["status"] != "ok":
            break


# ---- the peer: DuckDB loads and validates the same landing files (a worker process) -------------------------
def peer_typed(column: str) -> str:
    """The typed parse of a raw text column in DuckDB (NULL where it does not parse)."""
    kind = PEER_TYPES.get(column)
    if kind == "ts":
        return f"try_strptime({column}, '%Y-%m-%dT%H:%M:%SZ')"
    if kind == "money":
        return f"TRY_CAST({column} AS DECIMAL(18, 2))"
    return f"TRY_CAST({column} AS {kind})" if kind else column


def peer_select(source, cfg, as_of: date) -> str:
    """One source's rows, typed, checked and de-duplicated by key, with the salted hash of the customer id."""
    raw = cfg.lake.landing.rstrip("/") + f"/{source.landing_folder}/{source.pattern}"
    if source.file_format == "csv":
        read = f"read_csv('{raw}', header = true, all_varchar = true, filename = true)"
    else:
        columns = ", ".join(f"'{c}': 'VARCHAR'" for c in source.raw_columns)
        read = f"read_json('{raw}', format = 'newline_delimited', columns = {{{columns}}}, filename = true)"
    # typed columns as t_<name>, and no row_number() = 1: DuckDB 1.5 fails ("expression type mismatch") pushing
    # the timestamp range into the scan with it
    typed = ", ".join(f"{peer_typed(c)} AS t_{c}" for c in source.raw_columns)
    salt = cfg.privacy.salt.replace("'", "''")
    ts = f"t_{source.event_ts}"
    checks = [f"t_{c} IS NOT NULL" for c in source.required] + [
        f"{ts} >= TIMESTAMP '{cfg.ingest.business_start}'",
        f"{ts} < TIMESTAMP '{as_of + timedelta(days=1)}'",
    ]
    if "currency" in source.raw_columns:
        checks.append(f"t_currency = '{cfg.ingest.reporting_currency}'")
    if source.reference is not None:  # refunds: their order must be a loaded order
        ref = source.reference
        checks.append(f"t_{ref.column} IN (SELECT {ref.column} FROM {ref.table})")
    # de-duplicated by a grouped arg_min (the row of the first file), which spills to disk: DISTINCT ON … ORDER
    # BY ran out of memory on 28 million sessions
    fields = ", ".join(f"{c} := t_{c}" for c in source.raw_columns)
    return f"""
        SELECT unnest(arg_min(struct_pack({fields}, _source_file := _source_file), _source_file)),
            sha256('{salt}' || '|' || trim(arg_min(t_customer_id, _source_file))) AS customer_key
        FROM (SELECT {typed}, filename AS _source_file FROM {read})
        WHERE {" AND ".join(checks)}
        GROUP BY t_{source.key}"""


def run_peer(root: Path, args: argparse.Namespace) -> dict:
    """Worker: every source of the landing under `root`'s config into Parquet under root/duckdb, timed."""
    import duckdb

    from clvlake.config import load_config
    from clvlake.ingest.sources import SOURCES

    cfg = load_config(str(root / "clvlake.yml"))
    out = root / "duckdb"
    out.mkdir(exist_ok=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = false")  # no order is needed: lets large steps spill
    con.execute(f"SET temp_directory = '{root / 'duckdb_tmp'}'")
    rows, started = {}, time.perf_counter()
    for name, source in SOURCES.items():  # orders come first: refunds are checked against them
        con.execute(f"CREATE TABLE {name} AS {peer_select(source, cfg, args.as_of)}")
        con.execute(f"COPY {name} TO '{out / name}.parquet' (FORMAT parquet)")
        rows[name] = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    return {"seconds": time.perf_counter() - started, "rows": rows}


def measure_peer(root: Path, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "duckdb",
        "--path",
        str(root),
        "--as-of",
        args.as_of.isoformat(),
    ]
    returncode, lines, peak, _ = run_worker(cmd, errors=root / "duckdb.log")
    if returncode != 0 or not lines:
        last = (root / "duckdb.log").read_text(errors="replace").strip().splitlines()[-1:]
        return {"status": "failed", "returncode": returncode, "error": last[0] if last else None}
    return {"status": "ok", "peak_mb": peak / 2**20, **json.loads(lines[-1])}


# ---- one size --------------------------------------------------------------------------------------------------
def run_size(customers: int, args: argparse.Namespace, report: dict, save) -> None:
    """One size's run into `report` (saved with `save()` after each stage, so a run stopped by hand keeps the
    stages it finished)."""
    args.work_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"clvlake-pipeline-{label(customers)}-", dir=args.work_dir))
    spark = {"shuffle_partitions": args.shuffle_partitions, "driver_memory": args.driver_memory}
    conf = run_config(root, spark, args.as_of)
    lake, landing, next_day = root / "lakehouse", root / "landing", root / "next_day"
    print(f"{label(customers)} customers in {root}", flush=True)
    generated = run_stage(
        clv("generate", conf, "--customers", str(customers), "--seed", "42"), root / "generate.log"
    )
    report.update(
        customers=customers,
        label=label(customers),
        commit=commit(),
        started=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        work_dir=str(root),
        generate=generated,
    )
    if generated["status"] != "ok":
        save()
        return
    report["next_day_rows"] = hold_back_day(landing, next_day, args.as_of)
    state = {"silver_rows": 0, "landing_rows": count_rows(landing_files(landing))}
    report["landing_rows"] = state["landing_rows"]
    report["peer"] = measure_peer(root, args)
    peer = report["peer"]
    print(
        f"  DuckDB peer: {peer['status']}" + (f" in {peer['seconds']:.1f} s" if "seconds" in peer else ""),
        flush=True,
    )
    report["initial"] = []
    run_stages("initial", INITIAL, conf, lake, args.as_of, state, report["initial"], save)
    if customers in ONE_PROCESS_SIZES:  # before the next day's files land
        shutil.copytree(landing, root / "one_process" / "landing")
    if all(s["status"] == "ok" for s in report["initial"]):
        arrived = landing_files(next_day)
        state["landing_rows"] = count_rows(arrived)
        for path in arrived:
            (landing / path.relative_to(next_day)).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, landing / path.relative_to(next_day))
        next_date = args.as_of + timedelta(days=1)
        report["next_day"] = []
        run_stages("next_day", NEXT_DAY, conf, lake, next_date, state, report["next_day"], save)
    if customers in ONE_PROCESS_SIZES:
        report["one_process"] = run_one_process(root / "one_process", spark, args.as_of)
        save()
        print(f"  one process (clv pipeline): {report['one_process']['status']}", flush=True)
    one_process = [report["one_process"]] if "one_process" in report else []
    runs = [generated, *report["initial"], *report.get("next_day", []), report["peer"], *one_process]
    if not args.keep and all(r["status"] == "ok" for r in runs):
        shutil.rmtree(root, ignore_errors=True)  # kept when a step failed, for its log


def run_one_process(own: Path, spark: dict, as_of: date) -> dict:
    """`clv pipeline --as-of` (ingest → features → train → score → report in one process, as `make demo` runs
    it) on the landing copied into `own`, with a lake and MLflow store of its own."""
    conf = run_config(own, spark, as_of)
    return run_stage(clv("pipeline", conf, "--as-of", as_of.isoformat()), own / "pipeline.log")


def run_config(root: Path, spark: dict, as_of: date) -> Path:
    """The config of a run under `root`: its lake, landing and MLflow store there, the generator ending on the
    as-of date, the reports beside the lake and the benchmark's Spark settings."""
    return work_config(
        root,
        generator={"end": as_of.isoformat()},
        segments={"report_dir": str(root / "reports")},
        spark=spark,
    )


def commit() -> str:
    """The checked-out commit (with `+changes` when the work tree differs from it)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", "lib", "jobs", "conf"], cwd=REPO
    ).returncode
    return head.stdout.strip() + ("+changes" if dirty else "")


def earlier_sizes(out: Path, rerun: set[int]) -> list[dict]:
    """The sizes of an earlier results file that this run does not measure again, so that sizes can be run one
    invocation at a time (each keeps its own commit and start time)."""
    path = out / "pipeline.json"
    if not path.exists():
        return []
    return [z for z in json.loads(path.read_text())["sizes"] if z["customers"] not in rerun]


# ---- targets and the Markdown ------------------------------------------------------------------------------
def _size(report: dict, customers: int) -> dict | None:
    return next((z for z in report["sizes"] if z["customers"] == customers), None)


def _stage(size: dict | None, run: str, stage: str) -> dict | None:
    stages = (size or {}).get(run) or []
    return next((s for s in stages if s["stage"] == stage and s["status"] == "ok"), None)


def _completed(size: dict | None, run: str, stages: tuple[str, ...]) -> list[dict] | None:
    done = [_stage(size, run, s) for s in stages]
    return done if all(done) else None


def _target(name: str, goal: str, value: float | None, passes, shown: str) -> Target:
    if value is None:
        return Target(name, goal, "not run", None)
    return Target(name, goal, shown.format(value), passes(value))


def targets(report: dict) -> list[Target]:
    """Issue 16's targets and issue 18's train at 1M; one whose size did not run (or whose stage failed) is shown as
    not run."""
    small = _size(report, 10_000)
    ingest_10k = _stage(small, "initial", "ingest")
    initial_10k = _completed(small, "initial", INITIAL)
    one_process = (small or {}).get("one_process") or {}
    found = [
        _target(
            f"{label(10_000)}: ingest",
            "≤ 20 s",
            ingest_10k and ingest_10k["seconds"],
            lambda v: v <= 20,
            "{:.1f} s",
        ),
        _target(
            f"{label(10_000)}: data files in the lake after the initial run",
            "≤ 300",
            initial_10k and initial_10k[-1]["lake_data_files"],
            lambda v: v <= 300,
            "{:,}",
        ),
        _target(
            f"{label(10_000)}: whole pipeline (ingest → report) in one `clv pipeline` process, as `make demo`",
            "≤ 3 min",
            one_process["seconds"] if one_process.get("status") == "ok" else None,
            lambda v: v <= 180,
            "{:.0f} s",
        ),
    ]
    for customers in (100_000, 1_000_000):
        size = _size(report, customers)
        ingest = _stage(size, "initial", "ingest")
        peer = (size or {}).get("peer", {})
        found.append(
            _target(
                f"{label(customers)}: initial ingest rate",
                "≥ 50,000 rows/s",
                ingest and ingest["rows_per_second"],
                lambda v: v >= 50_000,
                "{:,.0f} rows/s",
            )
        )
        ratio = ingest["seconds"] / peer["seconds"] if ingest and peer.get("status") == "ok" else None
        found.append(
            _target(f"{label(customers)}: ingest vs DuckDB", "≤ 5×", ratio, lambda v: v <= 5, "{:.1f}×")
        )
    next_day_1m = _completed(_size(report, 1_000_000), "next_day", NEXT_DAY)
    found.append(
        _target(
            f"{label(1_000_000)}: next-day run (ingest + features + score + report)",
            "≤ 10 min",
            next_day_1m and sum(s["seconds"] for s in next_day_1m),
            lambda v: v <= 600,
            "{:.0f} s",
        )
    )
    train_1m = _stage(_size(report, 1_000_000), "initial", "train")
    found.append(
        _target(
            f"{label(1_000_000)}: `clv train` on the default config (issue 18)",
            "≤ 10 min",
            train_1m and train_1m["seconds"],
            lambda v: v <= 600,
            "{:.0f} s",
        )
    )
    growth = []
    sizes = [_size(report, c) for c in (100_000, 1_000_000)]
    # sizes measured at different commits would show the code's change, not the growth
    same_code = all(sizes) and sizes[0].get("commit") == sizes[1].get("commit")
    for run, stages in (("initial", INITIAL), ("next_day", NEXT_DAY)):
        for stage in stages:
            before, after = (_stage(size, run, stage) for size in sizes)
            if same_code and before and after:
                growth.append((after["seconds"] / before["seconds"], f"{run} {stage}"))
    worst = max(growth) if growth else None
    found.append(
        _target(
            f"{label(100_000)} → {label(1_000_000)}: largest growth of a stage (both sizes at one commit)",
            "≤ 12×",
            worst and worst[0],
            lambda v: v <= 12,
            "{:.1f}×" + (f" ({worst[1]})" if worst else ""),
        )
    )
    drivers = [
        s["python_peak_mb"]
        for z in report["sizes"]
        for run in ("initial", "next_day")
        for s in z.get(run) or []
        if s.get("python_peak_mb") is not None  # None: a stage taken from its log, not measured here
    ]
    found.append(
        _target(
            "Python driver, every stage and size",
            "≤ 300 MB",
            max(drivers) if drivers else None,
            lambda v: v <= 300,
            "{:,.0f} MB",
        )
    )
    return found


def peak(mb: float | None) -> str:
    return f" (peak {mb:,.0f} MB)" if mb is not None else ""


def load(stage: dict) -> str:
    """The machine's mean 1-minute load average during a stage (2 cores: above 2, other work was running)."""
    return f"{stage['mean_load']:.1f}" if stage.get("mean_load") is not None else ""


def stage_table(size: dict) -> list[str]:
    lines = [
        "| run | stage | seconds | input rows | rows/s | Python peak (MB) | JVM peak (MB) | Delta commits "
        "| data files written | lake data files | lake files | load | status |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in ("initial", "next_day"):
        for s in size.get(run) or []:
            status = s["status"] if s["status"] == "ok" else f"{s['status']}: {s['error'] or 'see the log'}"
            counts = [s.get(k) for k in ("input_rows", "rows_per_second", "python_peak_mb", "jvm_peak_mb")]
            counts += [
                s.get(k) for k in ("delta_commits", "data_files_written", "lake_data_files", "lake_files")
            ]
            shown = " | ".join("" if v is None else f"{v:,.0f}" for v in counts)  # None: not measured
            lines.append(f"| {run} | {s['stage']} | {s['seconds']:.1f} | {shown} | {load(s)} | {status} |")
        total = sum(s["seconds"] for s in size.get(run) or [])
        if total:
            lines.append(f"| {run} | **total** | {total:.1f} | | | | | | | | | | |")
    return lines


def markdown(report: dict) -> str:
    lines = [
        "# Pipeline benchmark: every stage at N customers, a next-day run, DuckDB as ingest's peer",
        "",
        f"Generated by `make bench-pipeline` (`scripts/bench_pipeline.py`) on {report['machine']}, as-of "
        f"{report['as_of']} (next day {report['next_day']}); Spark as in conf/local.yml with "
        f"{report['settings']['shuffle_partitions']} shuffle partitions and driver memory "
        f"{report['settings']['driver_memory']}. Each stage is its own `clv` process; peaks are resident memory, "
        "polled every 0.2 s (Python: the `clv` process; JVM: its child processes). Input rows: landing rows for "
        "ingest, silver rows loaded so far for features, feature rows for train and score, scored customers for "
        "report. Data files are the `.parquet` files under the lake outside `_delta_log` (the campaign exports "
        "included); commits are new `_delta_log/*.json`. The next-day run lands the as-of date's events "
        "(held back from the initial landing) and runs without training. Load: the machine's mean 1-minute "
        "load average during the stage (2 cores: above about 2, other work shared the machine).",
        "",
        "## Targets (issue 16; train at 1M: issue 18)",
        "",
        target_table(targets(report)),
    ]
    for size in report["sizes"]:
        gen = size["generate"]
        lines += ["", f"## {size['label']} customers", ""]
        if gen["status"] != "ok":
            lines.append(f"`clv generate` failed: {gen['error'] or 'see the log'}")
            continue
        lines.append(
            f"Measured {size.get('started', '')} at commit `{size.get('commit', '?')}`. "
            f"Generated in {gen['seconds']:.0f} s{peak(gen.get('python_peak_mb'))}; initial landing "
            f"{size['landing_rows']:,} rows, next day {size['next_day_rows']:,} rows."
        )
        if size.get("note"):  # how a run deviated from the procedure above
            lines.append(f"Note: {size['note']}.")
        peer = size["peer"]
        ingest = _stage(size, "initial", "ingest")
        if peer.get("status") == "ok":
            ratio = f"; ingest is {ingest['seconds'] / peer['seconds']:.1f}× it" if ingest else ""
            lines.append(
                f"DuckDB loads and validates the same landing files into Parquet in {peer['seconds']:.1f} s "
                f"(peak {peer['peak_mb']:,.0f} MB){ratio}."
            )
        else:
            lines.append(
                f"The DuckDB peer failed: {peer.get('error') or 'see duckdb.log in the work folder'}."
            )
        one = size.get("one_process")
        if one:
            done = (
                f"{one['seconds']:.1f} s (Python peak {one['python_peak_mb']:,.0f} MB, JVM peak "
                f"{one['jvm_peak_mb']:,.0f} MB, load {load(one)})"
                if one["status"] == "ok"
                else f"failed: {one['error'] or 'see the log'}"
            )
            lines.append(
                "The initial run in one process, `clv pipeline` (as `make demo` runs it; a copy of the same "
                f"initial landing, a lake of its own): {done}."
            )
        lines += ["", *stage_table(size)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="10k", help="customers per run, comma-separated: 10k,100k,1M or 2000"
    )
    parser.add_argument("--as-of", type=date.fromisoformat, default=AS_OF, help=f"run date (default {AS_OF})")
    parser.add_argument(
        "--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "clvlake-bench-pipeline"
    )
    parser.add_argument("--keep", action="store_true", help="keep each size's folder (landing, lake, logs)")
    args = parse_bench_args(parser, {"duckdb": run_peer})
    if args.worker:
        return
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "as_of": args.as_of.isoformat(),
        "next_day": (args.as_of + timedelta(days=1)).isoformat(),
        "settings": {"shuffle_partitions": args.shuffle_partitions, "driver_memory": args.driver_memory},
        "sizes": [],
    }
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    kept, measured = earlier_sizes(args.out, set(sizes)), []

    def save() -> None:
        report["sizes"] = sorted([*kept, *measured], key=lambda z: z.get("customers", 0))
        write_results("pipeline", {**report, "targets": targets(report)}, markdown(report), args.out)

    for customers in sizes:
        measured.append({"customers": customers})
        run_size(customers, args, measured[-1], save)
    print(target_table(targets(report)))


if __name__ == "__main__":
    main()
