from pathlib import Path

import pytest
import yaml

from clvlake.config import absolute_location, expand_env, load_config
from clvlake.errors import ConfigError
from tests.support.config import REPO


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "conf.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def local() -> dict:
    return yaml.safe_load((REPO / "conf" / "local.yml").read_text())


def test_shipped_configs_load():
    cfg = load_config(REPO / "conf" / "local.yml")
    assert Path(cfg.lake.root).is_absolute()
    assert [t.name for t in cfg.scoring.tiers] == ["platinum", "gold", "silver", "bronze"]
    assert cfg.model.horizon_days == 365


def test_cluster_config_loads_with_its_environment(monkeypatch):
    monkeypatch.setenv("CLVLAKE_BUCKET", "acme-lake")
    monkeypatch.setenv("CLVLAKE_SALT", "s3cret")
    monkeypatch.setenv("MLFLOW_SERVER", "https://mlflow.example.internal")
    cfg = load_config(REPO / "conf" / "cluster.yml")
    assert cfg.lake.root == "s3a://acme-lake/clvlake"
    assert cfg.privacy.salt == "s3cret"


def test_unknown_key_is_named_with_the_file(tmp_path):
    data = local()
    data["model"]["gbt"]["max_iters"] = 3
    path = write(tmp_path, data)
    with pytest.raises(ConfigError, match=r"conf\.yml: unknown key 'model\.gbt\.max_iters'"):
        load_config(path)


def test_missing_key_is_named_with_the_file(tmp_path):
    data = local()
    del data["lake"]["landing"]
    with pytest.raises(ConfigError, match=r"conf\.yml: missing key 'lake\.landing'"):
        load_config(write(tmp_path, data))


def test_wrong_type_is_named(tmp_path):
    data = local()
    data["model"]["horizon_days"] = "a year"
    with pytest.raises(ConfigError, match="'model.horizon_days' must be an integer"):
        load_config(write(tmp_path, data))


def test_tiers_must_descend_to_zero(tmp_path):
    data = local()
    data["scoring"]["tiers"] = [{"name": "a", "min_quantile": 0.5}, {"name": "b", "min_quantile": 0.8}]
    with pytest.raises(ConfigError, match="scoring.tiers"):
        load_config(write(tmp_path, data))


def test_missing_file_is_reported():
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("no/such/file.yml")


def test_environment_expansion(monkeypatch):
    monkeypatch.setenv("X_ROOT", "/data")
    monkeypatch.delenv("X_UNSET", raising=False)
    assert expand_env("${X_ROOT}/lake") == "/data/lake"
    assert expand_env("${X_UNSET:-fallback}") == "fallback"
    with pytest.raises(ConfigError, match="X_UNSET"):
        expand_env("${X_UNSET}")


def test_uris_are_kept_and_paths_made_absolute():
    assert absolute_location("s3a://bucket/lake") == "s3a://bucket/lake"
    assert absolute_location("dbfs:/lake") == "dbfs:/lake"
    assert Path(absolute_location("./lakehouse")).is_absolute()


def test_drift_report_only_must_name_model_inputs(tmp_path):
    data = local()
    data["monitoring"]["drift_report_only"] = ["customer_age_dayz"]
    with pytest.raises(ConfigError, match="monitoring.drift_report_only.*customer_age_dayz"):
        load_config(write(tmp_path, data))
