"""Benchmark: clvlake's RFM + trailing-window feature build in local Spark against DuckDB and lifetimes.

    python scripts/bench_features.py                      # 1M and 10M order events (make bench)
    python scripts/bench_features.py --sizes 1M,10M,100M  # 100M: needs ~2 GB of disk and ~30 minutes

For each size it writes N order events as Parquet (numpy + pyarrow, chunked, deterministic; reused when present)
and then, on the same files and in the same run, times:

* spark: clvlake's `purchase_activity(customer_days(purchase_rows(...)))` (RFM, BTYD statistics, trailing
  windows, refunds/discount totals and the purchase gaps the feature table also needs), written to Spark's
  `noop` sink, in local mode through `clvlake.session.get_spark`;
* duckdb: the same RFM + BTYD + trailing-window aggregation in SQL (customer-day roll-up, then per customer);
* duckdb_same_columns: that query plus what clvlake's aggregation computes beyond it (the gaps between purchase
  days, a window, and the refund, gross and discount totals): the same work as the spark row;
* lifetimes: `summary_data_from_transaction_data` (frequency, recency, T, monetary value), skipped where the
  events would not fit in memory;
* spark_comet (not by default; `make bench-comet`): the spark row with Apache DataFusion Comet's native
  vectorised operators (`COMET`, Spark 4.1 only), its result checked against the spark row's.

Each engine runs in its own process; the parent polls the resident memory of that process tree (Python and
Spark's JVM) and reports its peak. Times are the aggregation only (best of --repeats), not start-up or loading.
Results go to bench/results/<--name>.json and .md (features.json and features.md by default).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from functools import partial
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from checks import Target, target_table, write_results

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = date(2025, 7, 1)
START = date(2023, 1, 1)
DAYS = 3 * 365  # events from START over three years; the snapshot cuts them
CUSTOMERS_PER_EVENT = 0.156  # 1.56M customers at 10M events, as in the reference figures
CHUNK = 2_000_000
WINDOWS = (30, 90, 180, 365)
LIFETIMES_MAX_EVENTS = 30_000_000  # ~240 MB per million events: beyond this it would not fit next to Spark
COMET = "org.apache.datafusion:comet-spark-spark4.1_2.13:1.2.0"
COMET_SPARK = "4.1"  # the Spark its jar is built for


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * scale)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1_000}K"


def write_events(out: Path, chunks: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Path:
    """Writes (customer_key, days after START, net_value) chunks as Parquet parts of `out`, then `_SUCCESS`."""
    out.mkdir(parents=True, exist_ok=True)
    start = np.datetime64(START.isoformat(), "D")
    for i, (keys, days, value) in enumerate(chunks):
        dates = pa.array(start + days.astype("timedelta64[D]"), pa.date32())
        table = pa.table({"customer_key": keys.astype(np.int64), "event_date": dates, "net_value": value})
        pq.write_table(table, out / f"part-{i:05d}.parquet")
    (out / "_SUCCESS").touch()
    return out


def generate(n: int, data_dir: Path, seed: int = 7) -> Path:
    """N order events (customer_key int64, event_date date32, net_value double) in chunks of CHUNK rows."""
    out = data_dir / f"orders_{label(n)}"
    if (out / "_SUCCESS").exists():
        return out
    customers = max(1, int(n * CUSTOMERS_PER_EVENT))

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for i, first in enumerate(range(0, n, CHUNK)):
            rows = min(CHUNK, n - first)
            rng = np.random.default_rng([seed, i])
            # skewed activity: a few customers buy often, most rarely
            keys = (customers * rng.beta(0.6, 1.4, rows)).astype(np.int64)
            yield keys, rng.integers(0, DAYS, rows), np.round(rng.gamma(2.0, 30.0, rows), 2)

    return write_events(out, chunks())


# ---- engines (each runs in a worker process) ---------------------------------------------------------------
def comet_conf() -> dict[str, str]:
    """Spark settings that run supported operators in Comet (its jar resolved once, as Delta's), as its
    installation guide gives them; off-heap memory is where Comet's native operators keep their data."""
    import pyspark

    from clvlake.jars import maven_jars

    if not pyspark.__version__.startswith(COMET_SPARK):
        sys.exit(
            f"{COMET} needs Spark {COMET_SPARK}, this is pyspark {pyspark.__version__}: make bench-comet"
        )
    (jar,) = [j for j in maven_jars(COMET) if "comet-spark" in Path(j).name]
    return {
        "spark.jars": jar,  # after Delta's (`clvlake.session.LIST_SETTINGS`)
        "spark.driver.extraClassPath": jar,
        "spark.plugins": "org.apache.spark.CometPlugin",
        "spark.shuffle.manager": "org.apache.spark.sql.comet.execution.shuffle.CometShuffleManager",
        "spark.memory.offHeap.enabled": "true",
        "spark.memory.offHeap.size": "2g",
    }


def bench_session(args: argparse.Namespace, comet: bool = False):
    """Local Spark on 2 cores with the benchmark's shuffle partitions and driver memory (`comet`: `comet_conf`)."""
    from clvlake.config import SparkSettings
    from clvlake.session import get_spark

    settings = SparkSettings(
        master="local[2]",
        app_name="clvlake-bench",
        shuffle_partitions=args.shuffle_partitions,
        driver_memory=args.driver_memory,
        extra=comet_conf() if comet else {},
    )
    return get_spark(settings, tempfile.mkdtemp(prefix="clvlake-bench-"))


def delta_copy(spark, path: Path) -> str:
    """The events of `path` as a Delta table beside it (written once), as the feature job reads silver."""
    target = path.with_name(f"{path.name}_delta")
    if not (target / "_delta_log").is_dir():
        spark.read.parquet(str(path)).write.format("delta").mode("overwrite").save(str(target))
    return str(target)


def spark_activity(spark, path: Path, delta: bool = False):
    """clvlake's per-customer aggregation at SNAPSHOT of the order events in `path` (no other source), read
    from the Parquet files or (`delta`) from a Delta copy of them."""
    from pyspark.sql import functions as F

    from clvlake.features.build import customer_days, purchase_activity, purchase_rows

    events = (
        spark.read.format("delta").load(delta_copy(spark, path)) if delta else spark.read.parquet(str(path))
    )
    orders = events.select(
        "customer_key",
        "event_date",
        "net_value",
        F.lit(True).alias("is_order"),
        F.col("net_value").alias("gross"),
        F.lit(0.0).alias("discount"),
        F.lit(None).cast("string").alias("product_category"),
    )
    return purchase_activity(customer_days(purchase_rows(orders, [SNAPSHOT])), [SNAPSHOT])


def run_spark(path: Path, args: argparse.Namespace, comet: bool = False) -> dict:
    import pyspark
    from pyspark.sql import functions as F

    spark = bench_session(args, comet)
    activity = spark_activity(spark, path, delta=args.input == "delta")
    seconds = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        activity.write.format("noop").mode("overwrite").save()
        seconds.append(time.perf_counter() - started)
    check = activity.agg(
        F.count("*").alias("customers"),
        F.sum(F.col("purchase_days") - 1).alias("frequency"),
        F.sum("value_total").alias("net_value"),
        F.sum("orders_90d").alias("orders_90d"),
    ).first()
    return {"seconds": seconds, "check": check.asDict(), "spark": pyspark.__version__}


def duckdb_query(path: Path, same_columns: bool = False) -> str:
    """The RFM + BTYD + trailing-window aggregation in DuckDB SQL (customer-day roll-up, then per customer); with
    `same_columns`, also what clvlake's purchase aggregation computes beyond it: the gaps between purchase days (a
    window) and the refund, gross and discount totals."""
    c = f"DATE '{SNAPSHOT.isoformat()}'"
    windows = ",\n".join(
        f"sum(orders) FILTER (WHERE event_date >= {c} - INTERVAL {w} DAY) AS orders_{w}d, "
        f"coalesce(sum(value) FILTER (WHERE event_date >= {c} - INTERVAL {w} DAY), 0) AS net_value_{w}d"
        for w in WINDOWS
    )
    days = f"""
        SELECT customer_key, event_date, count(*) AS orders, sum(net_value) AS value,
            0 AS refunds, sum(net_value) AS gross, 0.0 AS discount
        FROM read_parquet('{path}/*.parquet')
        WHERE event_date < {c}
        GROUP BY customer_key, event_date"""
    gap = "date_diff('day', lag(event_date) OVER (PARTITION BY customer_key ORDER BY event_date), event_date)"
    source = f"(SELECT *, {gap} AS gap FROM days)" if same_columns else "days"
    extra = (
        "sum(gap) AS gap_sum, sum(gap * gap) AS gap_sq_sum, sum(refunds) AS refunds_total, "
        "sum(gross) AS gross_total, sum(discount) AS discount_total,"
        if same_columns
        else ""
    )
    return f"""
    WITH days AS ({days})
    SELECT customer_key,
        count(*) - 1 AS frequency,
        date_diff('day', min(event_date), max(event_date)) AS recency,
        date_diff('day', min(event_date), {c}) AS tenure,
        CASE WHEN count(*) > 1 THEN (sum(value) - arg_min(value, event_date)) / (count(*) - 1) ELSE 0 END
            AS monetary_value,
        sum(orders) AS orders_total, sum(value) AS net_value_total, sum(value) / sum(orders) AS avg_order_value,
        date_diff('day', max(event_date), {c}) AS days_since_last_purchase,
        {extra}
        {windows}
    FROM {source} GROUP BY customer_key
    """


def duckdb_run(path: Path, args: argparse.Namespace, same_columns: bool) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    query = duckdb_query(path, same_columns)
    seconds = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TEMP TABLE features AS {query}")
        seconds.append(time.perf_counter() - started)
    customers, frequency, net_value, orders_90d = con.execute(
        "SELECT count(*), sum(frequency), sum(net_value_total), sum(orders_90d) FROM features"
    ).fetchone()
    check = {"customers": customers, "frequency": int(frequency), "net_value": net_value}
    return {"seconds": seconds, "check": {**check, "orders_90d": int(orders_90d)}}


def lifetimes_summary(path: Path):
    """lifetimes' per-customer summary (frequency, recency, T in days, monetary value) of the events before
    SNAPSHOT, with the seconds spent loading the Parquet and summarising."""
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    started = time.perf_counter()
    events = pd.read_parquet(path, columns=["customer_key", "event_date", "net_value"])
    events["event_date"] = pd.to_datetime(events["event_date"])
    load = time.perf_counter() - started
    started = time.perf_counter()
    # events strictly before the snapshot, T measured to the snapshot: the same statistics as clvlake's
    summary = summary_data_from_transaction_data(
        events[events["event_date"] < pd.Timestamp(SNAPSHOT)],
        "customer_key",
        "event_date",
        monetary_value_col="net_value",
        observation_period_end=pd.Timestamp(SNAPSHOT),
        freq="D",
    )
    return summary, load, time.perf_counter() - started


def run_lifetimes(path: Path, args: argparse.Namespace) -> dict:
    summary, load, seconds = lifetimes_summary(path)
    check = {"customers": len(summary), "frequency": int(summary["frequency"].sum())}
    return {"seconds": [seconds], "load_seconds": load, "check": check}


ENGINES = {
    "spark": run_spark,
    "spark_comet": partial(run_spark, comet=True),
    "duckdb": partial(duckdb_run, same_columns=False),
    "duckdb_same_columns": partial(duckdb_run, same_columns=True),
    "lifetimes": run_lifetimes,
}


# ---- the parent: one worker process per engine and size, memory polled from outside ------------------------
def tree_rss(pid: int) -> tuple[int, int]:
    """Resident bytes of the process `pid` with all its descendants, and of the process alone."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
        own = root.memory_info().rss
    except psutil.NoSuchProcess:
        return 0, 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total, own


def run_worker(cmd: list[str], errors: Path | None = None) -> tuple[int, list[str], int, int]:
    """Runs `cmd` (the repository on its PYTHONPATH) while polling the resident memory of its process tree:
    the return code, the JSON lines it printed, and the peak bytes of the tree and of the Python process.
    Its standard error goes to `errors` when given."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with tempfile.TemporaryFile("w+") as out, open(errors or os.devnull, "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, text=True)
        peak = peak_python = 0
        while proc.poll() is None:
            tree, own = tree_rss(proc.pid)
            peak, peak_python = max(peak, tree), max(peak_python, own)
            time.sleep(0.1)
        out.seek(0)
        lines = [line for line in out.read().splitlines() if line.startswith("{")]
    return proc.returncode, lines, peak, peak_python


def measure(engine: str, path: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", engine, "--path", str(path), "--repeats", str(args.repeats)]
    cmd += ["--shuffle-partitions", str(args.shuffle_partitions), "--driver-memory", args.driver_memory]
    cmd += ["--input", args.input]
    returncode, lines, peak, peak_python = run_worker(cmd)
    if returncode != 0 or not lines:
        return {"status": "failed", "returncode": returncode}
    result = json.loads(lines[-1])
    memory = {"peak_rss_mb": peak / 2**20, "peak_python_rss_mb": peak_python / 2**20}
    return {"status": "ok", "best_seconds": min(result["seconds"]), **memory, **result}


def _seconds(report: dict, label_: str, engine: str) -> float | None:
    for size in report["sizes"]:
        if size["label"] == label_ and size["engines"].get(engine, {}).get("status") == "ok":
            return size["engines"][engine]["best_seconds"]
    return None


def targets(report: dict) -> list[Target]:
    """Issue 5's targets on the sizes that ran: Spark within 2× DuckDB and faster than lifetimes at 10M; time
    about linear in the events and the driver's memory flat from the smallest to the largest size."""
    found = []
    spark, lt = _seconds(report, "10M", "spark"), _seconds(report, "10M", "lifetimes")
    peers = {
        "duckdb": "DuckDB's RFM + window query",
        "duckdb_same_columns": "DuckDB on the same columns (with gaps)",
    }
    comet = _seconds(report, "10M", "spark_comet")
    for engine, peer in peers.items():
        duck = _seconds(report, "10M", engine)
        for name, seconds in (("Spark", spark), ("Spark + Comet", comet)):
            if seconds and duck:
                ratio = f"{seconds / duck:.2f}×"
                found.append(Target(f"{name} vs {peer}, 10M", "≤ 2×", ratio, seconds <= 2 * duck))
    if spark and comet:
        found.append(
            Target("Spark + Comet vs plain Spark, 10M", "faster", f"{comet / spark:.2f}×", comet < spark)
        )
    for size in report["sizes"]:
        plain, native = (size["engines"].get(e, {}) for e in ("spark", "spark_comet"))
        if plain.get("status") == native.get("status") == "ok":
            same = all(
                abs(native["check"][k] - v) <= 1e-9 * max(abs(v), 1) for k, v in plain["check"].items()
            )
            found.append(Target(f"Comet's result = plain Spark's, {size['label']}", "equal", str(same), same))
    if spark and lt:
        found.append(
            Target("Spark vs lifetimes' summary, 10M", "faster", f"{spark:.1f} s vs {lt:.1f} s", spark < lt)
        )
    ran = [z for z in report["sizes"] if z["engines"].get("spark", {}).get("status") == "ok"]
    if len(ran) > 1:
        # linearity between the two largest sizes: the smallest is dominated by fixed per-job costs
        before, large = ran[-2], ran[-1]
        scale = large["events"] / before["events"]
        growth = large["engines"]["spark"]["best_seconds"] / before["engines"]["spark"]["best_seconds"]
        found.append(
            Target(
                f"Spark time {before['label']} → {large['label']} (×{scale:g} events)",
                "about linear",
                f"×{growth:.1f}",
                growth <= 1.5 * scale,
            )
        )
        small = ran[0]
        first, last = small["engines"]["spark"], large["engines"]["spark"]
        python = last["peak_python_rss_mb"] - first["peak_python_rss_mb"]
        found.append(
            Target(
                f"Spark driver (Python) memory {small['label']} → {large['label']}",
                "flat",
                f"{first['peak_python_rss_mb']:,.0f} → {last['peak_python_rss_mb']:,.0f} MB",
                python < 100,
            )
        )
    return found


def markdown(report: dict) -> str:
    lines = [
        "# Feature benchmark: clvlake (Spark) vs DuckDB vs lifetimes",
        "",
        f"Generated by `{report['command']}` on {report['machine']}, Spark {report['spark']}. Snapshot "
        f"{report['snapshot']}; order events over {DAYS} days; {CUSTOMERS_PER_EVENT} customers per event; "
        f"Spark with {report['settings']['shuffle_partitions']} shuffle partitions, reading "
        f"{report['settings']['input']}. "
        "Times are the aggregation only, best of the repeats; peak memory is the resident set of the engine's "
        "whole process tree (Spark: Python driver + JVM, whose heap is capped by --driver-memory "
        f"{report['settings']['driver_memory']}), and of its Python process alone.",
        "",
        f"Note: {report['note']}",
        "",
        "## Targets",
        "",
        target_table(targets(report)),
        "",
        "## Times",
        "",
        "`duckdb` is the RFM + trailing-window query of the issue's reference figures; `duckdb_same_columns` adds "
        "what the Spark aggregation also computes (purchase gaps by a window; refund, gross and discount totals).",
        "",
        "| events | customers | engine | seconds | × DuckDB | × DuckDB same columns | peak memory (MB) "
        "| of it Python (MB) | status |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for size in report["sizes"]:
        bases = [size["engines"].get(e, {}).get("best_seconds") for e in ("duckdb", "duckdb_same_columns")]
        for name, res in size["engines"].items():
            if res["status"] != "ok":
                lines.append(f"| {size['label']} | | {name} | | | | | | {res['status']} |")
                continue
            ratios = " | ".join(f"{res['best_seconds'] / b:.1f}" if b else "" for b in bases)
            customers = f"{res['check']['customers']:,}"
            lines.append(
                f"| {size['label']} | {customers} | {name} | {res['best_seconds']:.2f} | {ratios} | "
                f"{res['peak_rss_mb']:,.0f} | {res['peak_python_rss_mb']:,.0f} | ok |"
            )
    return "\n".join(lines) + "\n"


def parse_bench_args(parser: argparse.ArgumentParser, workers: dict) -> argparse.Namespace:
    """Adds the options every benchmark takes (Spark settings, data and results folders, the hidden worker
    protocol) and parses; in a worker process, runs the worker and prints its JSON result line."""
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--data", type=Path, default=REPO / "bench" / "data", help="where the Parquet goes")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--worker", choices=sorted(workers), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(workers[args.worker](args.path, args), default=str), flush=True)
    return args


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1M,10M", help="order events per run, comma-separated (1M,10M)")
    parser.add_argument("--engines", default="spark,duckdb,duckdb_same_columns,lifetimes")
    parser.add_argument("--name", default="features", help="results file name under --out (features)")
    parser.add_argument(
        "--input", choices=("parquet", "delta"), default="parquet", help="what Spark reads (parquet)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per engine (best is reported)")
    parser.add_argument(
        "--note", default="2 cores shared with other work; compare ratios measured side by side"
    )
    args = parse_bench_args(parser, ENGINES)
    if args.worker:
        return

    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "command": " ".join(["python scripts/bench_features.py", *sys.argv[1:]]),
        "spark": version("pyspark"),
        "snapshot": SNAPSHOT.isoformat(),
        "note": args.note,
        "settings": {
            "repeats": args.repeats,
            "shuffle_partitions": args.shuffle_partitions,
            "driver_memory": args.driver_memory,
            "input": args.input,
        },
        "sizes": [],
    }
    for n in (parse_size(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        path = generate(n, args.data)
        size = {
            "events": n,
            "label": label(n),
            "generate_seconds": time.perf_counter() - started,
            "load_average_1m": os.getloadavg()[0],  # other work on the machine skews absolute times
            "engines": {},
        }
        for engine in args.engines.split(","):
            if engine == "lifetimes" and n > LIFETIMES_MAX_EVENTS:
                size["engines"][engine] = {"status": "skipped: would not fit in memory"}
                continue
            size["engines"][engine] = measure(engine, path, args)
            print(f"{label(n)} {engine}: {json.dumps(size['engines'][engine], default=str)}", flush=True)
        report["sizes"].append(size)
    write_results(args.name, report, markdown(report), args.out)
    print(markdown(report))


if __name__ == "__main__":
    main()
