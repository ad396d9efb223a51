"""Benchmark: clvlake's BG/NBD + Gamma-Gamma fit at scale against lifetimes' fitters on the same customers.

    python scripts/bench_btyd.py                  # 10M order events, ~1.4M customers (make bench-btyd)
    python scripts/bench_btyd.py --events 1M

The order events follow the BG/NBD + Gamma-Gamma process with known parameters (TRUE_BGNBD, TRUE_GAMMA_GAMMA):
bench_features' uniform events have no dropout, on which BG/NBD has no interior maximum. They are written like
bench_features' (its `write_events`: same columns, dates and snapshot; reused when present). In one run, each
side in its own process (the parent polls the resident memory of that process tree):

* clvlake: the per-customer BTYD statistics (x, t_x, T, mean repeat value) at the snapshot from the events with the
  feature builder's aggregation (`spark_activity` of bench_features + the `bt_*` feature expressions), written to
  Parquet like `customer_features`; then the fit of `clvlake.modeling.btyd`: one Spark job collapses them to
  identical (x, t_x, T) rows (t_x, T in whole weeks) and (x, mean value to 4 significant digits) rows, only those
  reach the driver, and scipy maximises each likelihood. The same fit with unit_days = 1 (no rounding of t_x and
  T) shows what the weekly rounding changes.
* lifetimes: `summary_data_from_transaction_data` (timed on its own), then `BetaGeoFitter().fit` on frequency,
  recency / 7 and T / 7 (weeks, exact) and `GammaGammaFitter().fit` on the repeat buyers (timed on their own).

Each side fits --repeats times (default 3); the fastest run is compared, and the first run is reported too.

Target (issue 6): clvlake's fit ≥ 10× faster than lifetimes' fits. Writes bench/results/btyd.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench_features import (
    DAYS,
    SNAPSHOT,
    bench_session,
    label,
    lifetimes_summary,
    parse_bench_args,
    parse_size,
    run_worker,
    spark_activity,
    write_events,
)
from checks import Target, target_table, write_results

WEEK = 7
TARGET_SPEEDUP = 10.0
BTYD_COLUMNS = ("orders_total", "bt_frequency", "bt_recency_days", "bt_tenure_days", "bt_monetary_value")
TRUE_BGNBD = {"r": 1.0, "alpha": 8.0, "a": 0.8, "b": 4.0}  # purchase rate ~ Gamma(r, alpha) per week
TRUE_GAMMA_GAMMA = {"p": 6.0, "q": 4.0, "v": 15.0}
TRUE = {"bgnbd": TRUE_BGNBD, "gamma_gamma": TRUE_GAMMA_GAMMA}
CUSTOMERS_PER_CHUNK = 400_000


def btyd_chunk(rng: np.random.Generator, first_key: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events of CUSTOMERS_PER_CHUNK customers over DAYS: a first purchase at a uniform time, then repeat purchases
    at rate lambda with a dropout chance p after each repeat purchase (BG/NBD: 1 + Geometric(p) purchases, capped
    far beyond what fits in DAYS), values Gamma(p, nu) around each customer's mean (Gamma-Gamma)."""
    m, t = CUSTOMERS_PER_CHUNK, TRUE_BGNBD
    rate = rng.gamma(t["r"], 1 / t["alpha"], m) / WEEK
    repeats = np.minimum(rng.geometric(rng.beta(t["a"], t["b"], m)), np.ceil(rate * DAYS * 2 + 20))
    purchases = 1 + repeats.astype(int)
    customer = np.repeat(np.arange(m), purchases)
    firsts = np.cumsum(purchases) - purchases
    gaps = rng.exponential(1.0, customer.size) / rate[customer]
    gaps[firsts] = 0.0
    elapsed = np.cumsum(gaps)
    day = rng.uniform(0, DAYS, m)[customer] + elapsed - np.repeat(elapsed[firsts], purchases)
    nu = rng.gamma(TRUE_GAMMA_GAMMA["q"], 1 / TRUE_GAMMA_GAMMA["v"], m)
    value = np.maximum(np.round(rng.gamma(TRUE_GAMMA_GAMMA["p"], 1 / nu[customer]), 2), 0.01)
    keep = day < DAYS
    return first_key + customer[keep], np.floor(day[keep]).astype(int), value[keep]


def generate_btyd(n: int, data_dir: Path, seed: int = 11) -> Path:
    """N order events of the BG/NBD + Gamma-Gamma process (deterministic; reused when present)."""
    out = data_dir / f"btyd_orders_{label(n)}"
    if (out / "_SUCCESS").exists():
        return out

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        written, i = 0, 0
        while written < n:
            keys, days, value = btyd_chunk(np.random.default_rng([seed, i]), i * CUSTOMERS_PER_CHUNK)
            rows = min(len(keys), n - written)
            yield keys[:rows], days[:rows], value[:rows]
            written, i = written + rows, i + 1

    return write_events(out, chunks())


def timed(step: str, seconds: dict[str, float], fn, *args):
    started = time.perf_counter()
    value = fn(*args)
    seconds[step] = time.perf_counter() - started
    return value


def best_of(repeats: int, run) -> tuple[dict, dict[str, float], dict[str, float]]:
    """Runs `run(seconds)` `repeats` times: its last result, and the timings of the fastest and of the first run
    (the first pays the JVM's warm-up; every later one is the same work on a fresh DataFrame)."""
    runs = []
    for _ in range(repeats):
        seconds: dict[str, float] = {}
        runs.append((run(seconds), seconds))
    fastest = min((s for _, s in runs), key=lambda s: sum(s.values()))
    return runs[-1][0], fastest, runs[0][1]


def clvlake_fit(stats, unit_days: float, digits: int, seconds: dict[str, float]) -> dict:
    """clvlake's fit with each part timed: both collapsed tables in one Spark job, then each likelihood
    maximisation."""
    from clvlake.modeling.btyd import collect_tables, fit_bgnbd, fit_gamma_gamma

    bgnbd, gg = timed("collapse", seconds, collect_tables, stats, unit_days, digits)
    bgnbd_params = timed("bgnbd_mle", seconds, fit_bgnbd, bgnbd)
    gg_params = timed("gg_mle", seconds, fit_gamma_gamma, gg)
    return {
        "bgnbd": {**vars(bgnbd_params), "alpha": bgnbd_params.alpha * unit_days / WEEK},  # rates per week
        "gamma_gamma": vars(gg_params),
        "collapsed_rows": {"bgnbd": len(bgnbd), "gamma_gamma": len(gg)},
        "customers": {"bgnbd": int(bgnbd["n"].sum()), "gamma_gamma": int(gg["n"].sum())},
    }


def run_clvlake(path: Path, args: argparse.Namespace) -> dict:
    from clvlake.features.build import feature_columns

    spark = bench_session(args)
    columns = feature_columns()
    stats_path = Path(tempfile.mkdtemp(prefix="clvlake-bench-btyd-")) / "stats"
    seconds: dict[str, float] = {}

    def summarise() -> None:
        stats = spark_activity(spark, path).select(*[columns[c].alias(c) for c in BTYD_COLUMNS])
        stats.write.parquet(str(stats_path))

    timed("summary", seconds, summarise)
    stats = spark.read.parquet(str(stats_path))  # as the fit reads customer_features: each collapse scans it
    fit, best, first = best_of(args.repeats, lambda s: clvlake_fit(stats, WEEK, args.monetary_digits, s))
    exact, exact_best, _ = best_of(1, lambda s: clvlake_fit(stats, 1, args.monetary_digits, s))
    return {
        "seconds": {**seconds, **best},
        "first_seconds": first,
        "exact_seconds": exact_best,
        "weekly": fit,
        "exact": exact,
    }


def lifetimes_fit(summary, seconds: dict[str, float]) -> dict:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    bgf = timed(
        "bgnbd_fit",
        seconds,
        BetaGeoFitter().fit,
        summary["frequency"],
        summary["recency"] / WEEK,
        summary["T"] / WEEK,
    )
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    ggf = timed("gg_fit", seconds, GammaGammaFitter().fit, repeat["frequency"], repeat["monetary_value"])
    return {
        "bgnbd": {k: float(bgf.params_[k]) for k in ("r", "alpha", "a", "b")},
        "gamma_gamma": {k: float(ggf.params_[k]) for k in ("p", "q", "v")},
        "customers": {"bgnbd": len(summary), "gamma_gamma": len(repeat)},
    }


def run_lifetimes(path: Path, args: argparse.Namespace) -> dict:
    summary, load, summary_seconds = lifetimes_summary(path)
    fit, best, first = best_of(args.repeats, lambda s: lifetimes_fit(summary, s))
    return {"seconds": {"load": load, "summary": summary_seconds, **best}, "first_seconds": first, **fit}


WORKERS = {"clvlake": run_clvlake, "lifetimes": run_lifetimes}


def measure(side: str, path: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", side, "--path", str(path)]
    cmd += ["--monetary-digits", str(args.monetary_digits), "--driver-memory", args.driver_memory]
    cmd += ["--shuffle-partitions", str(args.shuffle_partitions), "--repeats", str(args.repeats)]
    returncode, lines, peak, _ = run_worker(cmd)
    if returncode != 0 or not lines:
        raise SystemExit(f"{side} failed (exit {returncode}); run it alone: {' '.join(cmd)}")
    return {**json.loads(lines[-1]), "peak_rss_mb": peak / 2**20}


def summarise(clv: dict, lt: dict) -> dict:
    """The comparable wall times and the speed-ups."""
    s, t = clv["seconds"], lt["seconds"]
    mle = s["bgnbd_mle"] + s["gg_mle"]
    fit = s["collapse"] + mle
    lt_fit = t["bgnbd_fit"] + t["gg_fit"]
    first, lt_first = sum(clv["first_seconds"].values()), sum(lt["first_seconds"].values())
    return {
        "clvlake_first_fit_seconds": first,
        "lifetimes_first_fit_seconds": lt_first,
        "first_fit_speedup": lt_first / first,
        "clvlake_fit_seconds": fit,
        "clvlake_mle_seconds": mle,
        "lifetimes_fit_seconds": lt_fit,
        "fit_speedup": lt_fit / fit,
        "mle_speedup": lt_fit / mle,
        "clvlake_end_to_end_seconds": s["summary"] + fit,
        "lifetimes_end_to_end_seconds": t["summary"] + lt_fit,
        "end_to_end_speedup": (t["summary"] + lt_fit) / (s["summary"] + fit),
    }


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def markdown(report: dict) -> str:
    clv, lt, r = report["clvlake"], report["lifetimes"], report["ratios"]
    s, t = clv["seconds"], lt["seconds"]
    w, e = clv["weekly"], clv["exact"]
    speedup = Target(
        "clvlake's fit (Spark collapse + MLE) vs lifetimes' fits",
        f"≥ {TARGET_SPEEDUP:.0f}× faster",
        f"{r['clvlake_fit_seconds']:.2f} s vs {r['lifetimes_fit_seconds']:.2f} s ({r['fit_speedup']:.2f}×)",
        r["fit_speedup"] >= TARGET_SPEEDUP,
    )
    mle = Target(
        "clvlake's MLE on the collapsed tables alone vs lifetimes' fits",
        f"≥ {TARGET_SPEEDUP:.0f}× faster",
        f"{r['clvlake_mle_seconds']:.2f} s vs {r['lifetimes_fit_seconds']:.2f} s ({r['mle_speedup']:.2f}×)",
        r["mle_speedup"] >= TARGET_SPEEDUP,
    )
    first = Target(
        "the same, first fit of each side's process (JVM warm-up included)",
        f"≥ {TARGET_SPEEDUP:.0f}× faster",
        f"{r['clvlake_first_fit_seconds']:.2f} s vs {r['lifetimes_first_fit_seconds']:.2f} s "
        f"({r['first_fit_speedup']:.2f}×)",
        r["first_fit_speedup"] >= TARGET_SPEEDUP,
    )
    times = table(
        ["step", "clvlake", "lifetimes"],
        [
            [
                "per-customer summary from the events",
                f"{s['summary']:.1f} (Spark, to Parquet)",
                f"{t['summary']:.1f} (+ {t['load']:.1f} loading the Parquet)",
            ],
            [
                "collapse to both tables (one Spark job)",
                f"{s['collapse']:.2f}",
                "",
            ],
            ["BG/NBD fit", f"{s['bgnbd_mle']:.2f} MLE", f"{t['bgnbd_fit']:.2f}"],
            ["Gamma-Gamma fit", f"{s['gg_mle']:.2f} MLE", f"{t['gg_fit']:.2f}"],
            ["both fits", f"**{r['clvlake_fit_seconds']:.2f}**", f"**{r['lifetimes_fit_seconds']:.2f}**"],
            [
                "both fits, first run",
                f"{r['clvlake_first_fit_seconds']:.2f}",
                f"{r['lifetimes_first_fit_seconds']:.2f}",
            ],
            [
                "events → parameters",
                f"{r['clvlake_end_to_end_seconds']:.1f}",
                f"{r['lifetimes_end_to_end_seconds']:.1f}",
            ],
            ["both fits with unit_days = 1 (no rounding)", f"{sum(clv['exact_seconds'].values()):.2f}", ""],
            [
                "peak memory of the process tree (MB)",
                f"{clv['peak_rss_mb']:,.0f}",
                f"{lt['peak_rss_mb']:,.0f}",
            ],
        ],
    )
    params = table(
        [
            "parameter",
            "simulated",
            "clvlake (weeks)",
            "clvlake (days)",
            "lifetimes",
            "weeks vs lt",
            "days vs lt",
        ],
        [
            [
                f"{model} {k}",
                f"{TRUE[model][k]:g}",
                *(f"{v[model][k]:.4f}" for v in (w, e, lt)),
                *(f"{v[model][k] / lt[model][k] - 1:+.2%}" for v in (w, e)),
            ]
            for model in ("bgnbd", "gamma_gamma")
            for k in TRUE[model]
        ],
    )
    return f"""# BTYD fit benchmark: clvlake (Spark collapse + scipy) vs lifetimes

Generated by `make bench-btyd` (`scripts/bench_btyd.py`) on {report["machine"]}: {report["label"]} order events
simulated from BG/NBD + Gamma-Gamma (snapshot {report["snapshot"]}), {w["customers"]["bgnbd"]:,} customers at the
snapshot ({w["customers"]["gamma_gamma"]:,} repeat buyers with positive value). Load average
{report["load_average_1m"]:.1f} at the start and {report["load_average_end"]:.1f} at the end on the 2 shared cores.
Each side ran in its own process; peak memory is its process tree (clvlake: Python driver + the JVM). Both
fits ran {report["repeats"]} times on each side (clvlake on a fresh DataFrame each time); the times are the
fastest run's, the first run is shown too.

## Target

{target_table([speedup, first, mle])}

## Wall times (seconds)

{times}

Rows that reached clvlake's driver: the collapsed tables only, BG/NBD {w["collapsed_rows"]["bgnbd"]:,} rows
(t_x, T in weeks; {e["collapsed_rows"]["bgnbd"]:,} in days) and Gamma-Gamma {w["collapsed_rows"]["gamma_gamma"]:,}
rows, for {w["customers"]["bgnbd"]:,} customers.

## Parameters (alpha per week)

{params}
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", default="10M", help="order events (10M)")
    parser.add_argument("--monetary-digits", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="fits per side (the fastest is reported)")
    args = parse_bench_args(parser, WORKERS)
    if args.worker:
        return

    n = parse_size(args.events)
    path = generate_btyd(n, args.data)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "events": n,
        "label": label(n),
        "snapshot": SNAPSHOT.isoformat(),
        "load_average_1m": os.getloadavg()[0],
        "repeats": args.repeats,
    }
    for side in WORKERS:
        report[side] = measure(side, path, args)
        print(f"{side}: {json.dumps(report[side], default=str)}", flush=True)
    report["ratios"] = summarise(report["clvlake"], report["lifetimes"])
    report["load_average_end"] = os.getloadavg()[0]
    write_results("btyd", report, markdown(report), args.out)
    print(markdown(report))


if __name__ == "__main__":
    main()
