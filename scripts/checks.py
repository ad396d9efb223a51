"""Shared by the model checks (scripts/check_*.py): a config on a work directory, targets and result files."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from clvlake.console import COMPARISON_COLUMNS

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
METRIC_COLUMNS = list(COMPARISON_COLUMNS)


def _merged(base: dict, over: dict) -> dict:
    """`base` with `over`'s keys replaced, nested dictionaries merged key by key."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and key in out else value
    return out


def work_config(root: Path, **sections: dict) -> Path:
    """conf/local.yml with the lake, landing, MLflow and oracle under `root` and `sections` merged in, written
    to `root`/clvlake.yml (so `clv … --conf` on it reproduces any step by hand)."""
    db = root / "_mlflow" / "mlflow.db"
    located = {
        "lake": {"root": str(root / "lakehouse"), "landing": str(root / "landing")},
        "mlflow": {
            "tracking_uri": f"sqlite:///{db}",
            "registry_uri": f"sqlite:///{db}",
            "artifact_root": str(root / "_mlflow" / "artifacts"),
        },
        "generator": {"oracle_dir": str(root / "oracle")},
    }
    data = _merged(_merged(yaml.safe_load((REPO / "conf" / "local.yml").read_text()), located), sections)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "clvlake.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    passed: bool | None  # None: not measured in this run


def target_table(targets: Iterable[Target]) -> str:
    """The targets as a Markdown table (readable in a terminal too)."""
    lines = ["| target | goal | measured | result |", "|---|---|---|---|"]
    verdict = {True: "PASS", False: "MISS", None: "not run"}
    lines += [f"| {t.name} | {t.goal} | {t.measured} | {verdict[t.passed]} |" for t in targets]
    return "\n".join(lines)


def method_table(metrics: dict[str, dict[str, float]], columns: Iterable[str] = METRIC_COLUMNS) -> str:
    """Method × metric as a Markdown table; a metric a method does not have is left empty."""
    columns = list(columns)
    lines = ["| method | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for method, values in metrics.items():
        cells = [f"{values[c]:.4f}" if c in values else "" for c in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(name: str, report: dict, markdown: str, out: Path = RESULTS) -> None:
    """bench/results/<name>.json (targets as records) and <name>.md."""
    out.mkdir(parents=True, exist_ok=True)
    if "targets" in report:
        report = {**report, "targets": [asdict(t) for t in report["targets"]]}
    (out / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / f"{name}.md").write_text(markdown)
