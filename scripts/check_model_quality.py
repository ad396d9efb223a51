"""Oracle check: the CLV regressor on generated data against the simulator's true expected value.

    python scripts/check_model_quality.py                     # 20,000 customers, seed 42 (make check-model)
    python scripts/check_model_quality.py --work-dir /tmp/cm --skip-data --max-iter 120   # retrain only

Generates customers (`clv generate`) into a work directory (a temporary one unless --work-dir), runs ingest,
features and train at the as-of date with the library, then takes the held-out customers of the training
snapshot c0 = as_of − horizon from `backtest_predictions` / `backtest_metrics` (evaluation "customers": nothing is
refitted here) and joins each to the oracle's `expected_value(truth, c0, horizon)` through the restricted
`customer_identity` table. The oracle is scored like any method, on the same rows and with the same metrics
(`clvlake.modeling.metrics`). Targets (issues 6, 18): the regressor's normalised Gini ≥ 97 % of the oracle's; it beats
BG/NBD + Gamma-Gamma on Gini, Spearman and RMSE at once; total ratio in 0.9–1.1; conformal coverage within 2 points
of the nominal level. Writes bench/results/model_quality.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from checks import RESULTS, Target, method_table, target_table, work_config, write_results
from clvlake.config import Config, load_config
from clvlake.lake import Lake
from clvlake.modeling.baselines import BTYD
from clvlake.modeling.evaluation import method_name
from clvlake.modeling.metrics import evaluate

ORACLE = "oracle"
GINI_SHARE = 0.97
TOTAL_RATIO = (0.9, 1.1)
COVERAGE_TOLERANCE = 0.02


def stored_metrics(lake: Lake, c0: date) -> dict[str, dict[str, float]]:
    """method → metric → value of the "customers" evaluation at c0, as the train job wrote them (a few rows)."""
    rows = (
        lake.read_partition("backtest_metrics", c0)
        .where((F.col("evaluation") == "customers") & F.col("decile").isNull())
        .select("method", "metric", "value")
        .collect()
    )
    metrics: dict[str, dict[str, float]] = {}
    for row in rows:
        metrics.setdefault(row["method"], {})[row["metric"]] = row["value"]
    return metrics


def oracle_values(spark: SparkSession, cfg: Config, c0: date) -> DataFrame:
    """customer_id, oracle: the true expected net value in [c0, c0 + horizon) of every simulated customer."""
    from clvlake.datagen.oracle import expected_value

    truth = pd.read_csv(Path(cfg.generator.oracle_dir) / "customer_truth.csv")
    values = expected_value(truth, c0, cfg.model.horizon_days).rename(columns={"expected_value": ORACLE})
    return spark.createDataFrame(values)


def with_oracle(predictions: DataFrame, identity: DataFrame, oracle: DataFrame) -> DataFrame:
    """Held-out rows of one method with the oracle's value, joined on customer_key → customer_id."""
    return predictions.join(identity.select("customer_key", "customer_id"), "customer_key", "left").join(
        oracle, "customer_id", "left"
    )


def feature_importances(cfg: Config, version: str, top: int = 10) -> dict[str, list[tuple[str, float]]]:
    """The largest feature importances of each tree model in the registered pipeline."""
    import mlflow
    from pyspark.ml.feature import VectorAssembler

    from clvlake.modeling import registry

    registry.configure(cfg.mlflow)
    model = mlflow.spark.load_model(f"models:/{cfg.mlflow.model_name}/{version}")
    inputs = next(stage.getInputCols() for stage in model.stages if isinstance(stage, VectorAssembler))
    out = {}
    for stage in model.stages:
        if hasattr(stage, "featureImportances"):  # Spark ML's GBT: normalised impurity gain
            values = stage.featureImportances.toArray()
        elif hasattr(stage, "get_booster"):  # XGBoost: total gain per feature `f<i>`, normalised here alike
            gain = stage.get_booster().get_score(importance_type="total_gain")
            values = [gain.get(f"f{i}", 0.0) for i in range(len(inputs))]
            values = [v / (sum(values) or 1.0) for v in values]
        else:
            continue
        ranked = sorted(zip(inputs, values, strict=True), key=lambda p: -p[1])
        out[type(stage).__name__] = [(name, round(float(v), 4)) for name, v in ranked[:top]]
    return out


def targets(metrics: dict[str, dict[str, float]], regressor: str, level: float) -> list[Target]:
    m, btyd, oracle = metrics[regressor], metrics[BTYD], metrics[ORACLE]
    share = m["normalised_gini"] / oracle["normalised_gini"]
    beats = {
        "Gini": m["normalised_gini"] > btyd["normalised_gini"],
        "Spearman": m["spearman"] > btyd["spearman"],
        "RMSE": m["rmse"] < btyd["rmse"],
    }
    low, high = TOTAL_RATIO
    return [
        Target(
            "regressor Gini vs oracle Gini",
            f"≥ {GINI_SHARE:.0%} of the oracle's",
            f"{m['normalised_gini']:.4f} vs {oracle['normalised_gini']:.4f} ({share:.1%})",
            share >= GINI_SHARE,
        ),
        Target(
            "beats BG/NBD + Gamma-Gamma on Gini, Spearman and RMSE",
            "all three",
            f"Gini {m['normalised_gini']:.4f} vs {btyd['normalised_gini']:.4f}, Spearman {m['spearman']:.4f} vs "
            f"{btyd['spearman']:.4f}, RMSE {m['rmse']:.2f} vs {btyd['rmse']:.2f}",
            all(beats.values()),
        ),
        Target("total ratio", f"{low}–{high}", f"{m['total_ratio']:.4f}", low <= m["total_ratio"] <= high),
        Target(
            "conformal coverage",
            f"{level:.2f} ± {COVERAGE_TOLERANCE:.2f}",
            f"{m['coverage']:.4f}",
            abs(m["coverage"] - level) <= COVERAGE_TOLERANCE,
        ),
    ]


def prepare(cfg: Config, args: argparse.Namespace, spark: SparkSession, timings: dict[str, float]) -> None:
    """generate → ingest → features (skipped with --skip-data: the work directory already holds them)."""
    from clvlake.jobs import generate, run_step

    started = time.monotonic()
    generate(cfg, args.customers, args.seed, error_rate=0.0)  # `clv generate`
    timings["generate"] = time.monotonic() - started
    for step in ("ingest", "features"):
        started = time.monotonic()
        run_step(step, spark, cfg, args.as_of)
        timings[step] = time.monotonic() - started


def markdown(report: dict) -> str:
    s = report["settings"]
    importances = "\n".join(
        f"* {stage}: " + ", ".join(f"{name} {value:.3f}" for name, value in ranked)
        for stage, ranked in report["feature_importances"].items()
    )
    timings = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in report["seconds"].items())
    return f"""# Model quality against the oracle (generated data)

Generated by `make check-model` (`scripts/check_model_quality.py`) on {report["machine"]}: {s["customers"]:,}
customers (seed {s["seed"]}), train at as-of {s["as_of"]}, so the training snapshot is c0 = {report["c0"]} and the
label is net value in [c0, c0 + {s["horizon_days"]} days). Every row is a held-out customer of c0
({report["held_out_customers"]:,} customers, evaluation "customers" of `backtest_predictions`); `oracle` is
`expected_value(truth, c0, {s["horizon_days"]})` of the simulator, scored against the realised label like any
method. GBT: {s["gbt"]}. The trained form (best on the selection metric over the backtest) is
`{report["regressor"]}`.

## Targets

{target_table(report["targets"])}

## All methods on the same held-out customers

{method_table(report["metrics"])}

## Largest feature importances of the trained form

{importances}

Seconds: {timings} (load average {report["load_average_1m"]:.1f} on {os.cpu_count()} cores at the end).
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 1, 1))
    parser.add_argument(
        "--work-dir", type=Path, help="lake, landing and MLflow go here (default: a temp dir)"
    )
    parser.add_argument("--skip-data", action="store_true", help="reuse --work-dir's lake: only train again")
    parser.add_argument("--max-iter", type=int, help="override model.gbt.max_iter")
    parser.add_argument("--max-depth", type=int, help="override model.gbt.max_depth")
    parser.add_argument("--step-size", type=float, help="override model.gbt.step_size")
    parser.add_argument(
        "--no-blend", action="store_true", help="model.btyd.blend false: the trees alone, without BG/NBD"
    )
    parser.add_argument("--forms", help="override model.forms, e.g. hurdle (comma-separated)")
    parser.add_argument("--pooled-snapshots", type=int, help="override model.pooled_snapshots")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="model_quality", help="result file name under --out")
    args = parser.parse_args()
    if args.skip_data and not args.work_dir:
        parser.error("--skip-data needs --work-dir")

    from clvlake.cli import configure_logging
    from clvlake.jobs import run_step
    from clvlake.session import get_spark

    configure_logging(verbose=False)
    root = args.work_dir or Path(tempfile.mkdtemp(prefix="clvlake-check-model-"))
    overridden = (("max_iter", args.max_iter), ("max_depth", args.max_depth), ("step_size", args.step_size))
    gbt = {k: v for k, v in overridden if v is not None}
    forms = {"forms": args.forms.split(",")} if args.forms else {}
    pooled = {"pooled_snapshots": args.pooled_snapshots} if args.pooled_snapshots is not None else {}
    blend = {"btyd": {"blend": False}} if args.no_blend else {}
    cfg = load_config(work_config(root.resolve(), model={"gbt": gbt, **forms, **pooled, **blend}))
    print(f"work directory: {root} (config {root / 'clvlake.yml'})", flush=True)
    spark = get_spark(cfg.spark)
    timings: dict[str, float] = {}
    if not args.skip_data:
        prepare(cfg, args, spark, timings)
    started = time.monotonic()
    trained = run_step("train", spark, cfg, args.as_of)
    timings["train"] = time.monotonic() - started

    started = time.monotonic()
    lake = Lake(spark, cfg.lake.root)
    c0 = args.as_of - timedelta(days=cfg.model.horizon_days)
    regressor = method_name(trained["form"])
    metrics = stored_metrics(lake, c0)
    rows = with_oracle(
        lake.read_partition("backtest_predictions", c0).where(
            (F.col("evaluation") == "customers") & (F.col("method") == regressor)
        ),
        lake.read("customer_identity"),
        oracle_values(spark, cfg, c0),
    ).cache()
    counts = rows.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(ORACLE).alias("with_oracle"),
        F.count("customer_id").alias("ids"),
    ).first()
    if counts["with_oracle"] != counts["rows"]:
        raise SystemExit(f"{counts['rows'] - counts['with_oracle']} held-out customers have no oracle value")
    metrics[ORACLE] = evaluate(rows, "actual", ORACLE)
    recomputed = evaluate(rows, "actual", "predicted")["normalised_gini"]
    if abs(recomputed - metrics[regressor]["normalised_gini"]) > 1e-9:
        raise SystemExit(f"rows differ from the stored evaluation: Gini {recomputed} vs {metrics[regressor]}")
    timings["evaluate"] = time.monotonic() - started

    report = {
        "machine": f"{os.uname().machine}, {os.cpu_count()} cores",
        "settings": {
            "customers": args.customers,
            "seed": args.seed,
            "as_of": args.as_of.isoformat(),
            "horizon_days": cfg.model.horizon_days,
            "gbt": dataclasses.asdict(cfg.model.gbt),
        },
        "c0": c0.isoformat(),
        "held_out_customers": counts["rows"],
        "regressor": regressor,
        "model_version": trained["model_version"],
        "metrics": {
            m: metrics[m] for m in sorted(metrics, key=lambda m: (m != ORACLE, not m.startswith("gbt_"), m))
        },
        "targets": targets(metrics, regressor, cfg.model.conformal_level),
        "feature_importances": feature_importances(cfg, trained["model_version"]),
        "seconds": timings,
        "load_average_1m": os.getloadavg()[0],
        "work_dir": str(root),
    }
    text = markdown(report)
    write_results(args.name, report, text, args.out)
    print(text, flush=True)


if __name__ == "__main__":
    main()
