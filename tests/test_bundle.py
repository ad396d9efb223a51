"""databricks.yml: valid against the bundle schema's job model, and every task is a real `clv` command.

The Databricks CLI (a Go binary) is not on a package registry this project can install from, so the job
definitions are validated with `databricks-bundles`, whose models are generated from the bundle JSON schema and
reject unknown or misspelt fields at any depth.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points, metadata

import pytest
import yaml
from databricks.bundles.jobs import Job

from clvlake.cli import build_parser
from clvlake.config import load_config
from clvlake.pipeline import STEPS as PIPELINE_STEPS
from tests.support.config import REPO

BUNDLE = yaml.safe_load((REPO / "databricks.yml").read_text())
TOP_LEVEL = {
    "bundle",
    "variables",
    "artifacts",
    "resources",
    "targets",
    "include",
    "workspace",
    "sync",
    "permissions",
    "run_as",
    "presets",
    "experimental",
}
JOBS = BUNDLE["resources"]["jobs"]


def test_top_level_keys_and_targets():
    assert set(BUNDLE) <= TOP_LEVEL
    assert {"dev", "prod"} <= set(BUNDLE["targets"])
    assert BUNDLE["targets"]["dev"]["mode"] == "development" and BUNDLE["targets"]["dev"].get("default")
    assert BUNDLE["targets"]["prod"]["mode"] == "production"


@pytest.mark.parametrize("name", sorted(JOBS))
def test_jobs_match_the_bundle_schema(name):
    Job.from_dict(JOBS[name])  # raises on any unknown or misspelt field


def test_unknown_fields_would_be_caught():
    broken = {**JOBS["clvlake_daily"], "shedule": {}}
    with pytest.raises(ValueError, match="shedule"):
        Job.from_dict(broken)


def test_every_variable_used_is_defined():
    used = set(re.findall(r"\$\{var\.([a-z_]+)\}", (REPO / "databricks.yml").read_text()))
    assert used <= set(BUNDLE["variables"])


def test_tasks_run_the_pipeline_then_monitor_in_order_daily():
    job = JOBS["clvlake_daily"]
    order = [t["task_key"] for t in job["tasks"]]
    assert order == [*PIPELINE_STEPS, "monitor"]
    for previous, task in zip(job["tasks"], job["tasks"][1:], strict=False):
        assert task["depends_on"] == [{"task_key": previous["task_key"]}]
    assert job["schedule"]["quartz_cron_expression"].split()[3:] == ["*", "*", "?"]  # every day
    assert {p["name"] for p in job["parameters"]} == {"as_of", "conf"}


def test_every_task_is_a_valid_clv_command_of_the_wheel():
    (clv,) = entry_points(group="console_scripts", name="clv")
    assert clv.value == "clvlake.cli:main"
    parser = build_parser()
    for task in JOBS["clvlake_daily"]["tasks"]:
        wheel_task = task["python_wheel_task"]
        assert (wheel_task["package_name"], wheel_task["entry_point"]) == (metadata("clvlake")["Name"], "clv")
        assert task["libraries"] == [{"whl": "./dist/*.whl"}]
        params = [
            p.replace("{{job.parameters.as_of}}", "2026-01-01").replace("{{job.parameters.conf}}", "c.yml")
            for p in wheel_task["parameters"]
        ]
        args = parser.parse_args(params)
        assert args.command == task["task_key"] and str(args.as_of) == "2026-01-01"


def test_the_salt_comes_from_a_secret_scope():
    for name, job in JOBS.items():
        for cluster in job["job_clusters"]:
            salt = cluster["new_cluster"]["spark_env_vars"]["CLVLAKE_SALT"]
            assert salt == "{{secrets/${var.salt_scope}/${var.salt_key}}}", name
    assert {"salt_scope", "salt_key"} <= set(BUNDLE["variables"])


def test_the_jobs_name_their_tables_in_unity_catalog_and_register_the_model_there(monkeypatch):
    """conf/cluster.yml read with the job cluster's environment (the variables' defaults): catalog mode, and
    Unity Catalog's model registry with a three-part model name."""
    values = {name: str(spec.get("default", f"my-{name}")) for name, spec in BUNDLE["variables"].items()}
    (cluster,) = JOBS["clvlake_daily"]["job_clusters"]
    for key, value in cluster["new_cluster"]["spark_env_vars"].items():
        monkeypatch.setenv(key, re.sub(r"\$\{var\.([a-z_]+)\}", lambda m: values[m.group(1)], value))
    cfg = load_config(REPO / "conf" / "cluster.yml")
    assert (cfg.lake.root, cfg.lake.catalog, cfg.lake.schema) == (
        "s3a://my-bucket/clvlake",
        "main",
        "clvlake",
    )
    assert (cfg.mlflow.tracking_uri, cfg.mlflow.registry_uri) == ("databricks", "databricks-uc")
    assert cfg.mlflow.model_name == "main.clvlake.clvlake_clv"
