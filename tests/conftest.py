"""Shared fixtures: one local SparkSession with Delta for the whole run, and configs on temporary lakes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clvlake.config import Config, SparkSettings, config_from_dict

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from clvlake.session import get_spark

    session = get_spark(
        SparkSettings(master="local[2]", app_name="clvlake-tests", shuffle_partitions=2, driver_memory="2g"),
        str(tmp_path_factory.mktemp("spark-scratch")),
    )
    yield session
    session.stop()


def config_data(root: Path, **overrides: dict) -> dict:
    """conf/local.yml as a dict with every location moved under `root`; `overrides` replace sections' keys."""
    data = yaml.safe_load((REPO / "conf" / "local.yml").read_text())
    data["lake"] = {"root": str(root / "lake"), "landing": str(root / "landing")}
    db = root / "mlflow" / "mlflow.db"
    data["mlflow"].update(
        tracking_uri=f"sqlite:///{db}",
        registry_uri=f"sqlite:///{db}",
        artifact_root=str(root / "mlflow" / "artifacts"),
    )
    data["generator"]["oracle_dir"] = str(root / "oracle")
    data["segments"]["report_dir"] = str(root / "reports")
    data["privacy"] = {**data["privacy"], "salt": "test-salt"}
    for section, values in overrides.items():
        data[section] = {**data[section], **values}
    return data


def make_config(root: Path, **overrides: dict) -> Config:
    return config_from_dict(config_data(root, **overrides), "test-config")


def write_config(root: Path, **overrides: dict) -> Path:
    """A config file for CLI tests, with the same temporary locations as `make_config`."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "clvlake.yml"
    path.write_text(yaml.safe_dump(config_data(root, **overrides)))
    return path


@pytest.fixture
def cfg(tmp_path) -> Config:
    return make_config(tmp_path)
