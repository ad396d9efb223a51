import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clvlake.config import SparkSettings, absolute_location, expand_env, load_config
from clvlake.errors import ConfigError
from clvlake.session import get_spark, local_session_conf, metastore_conf
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
    monkeypatch.setenv("MLFLOW_REGISTRY", "https://mlflow.example.internal")
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


def _set(data: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data[key]
    data[last] = value


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("model.forms", ["raw", "sqrt"], "key 'model.forms' must list some of raw, log1p, hurdle"),
        ("model.forms", [], "key 'model.forms' must list some of raw, log1p, hurdle"),
        (
            "model.selection_metric",
            "r2",
            "key 'model.selection_metric' must name metrics of "
            "rmse, mae, spearman, normalised_gini, top_decile_capture, total_ratio",
        ),
        (
            "model.champion_metrics",
            [],
            "key 'model.champion_metrics' must name metrics of "
            "rmse, mae, spearman, normalised_gini, top_decile_capture, total_ratio",
        ),
        ("model.conformal_fraction", 1.0, "key 'model.conformal_fraction' must be between 0 and 1"),
        (
            "model.pooled_snapshots",
            0,
            "keys 'model.backtest_snapshots', 'model.backtest_step_days' and 'model.pooled_snapshots' must be ≥ 1",
        ),
        (
            "model.discrepancy_factor",
            1.0,
            "key 'model.discrepancy_factor' must be > 1 and 'model.formula_margin' positive",
        ),
        (
            "model.btyd.monetary_digits",
            16,
            "key 'model.btyd' needs unit_days ≥ 1 and monetary_digits between 1 and 15",
        ),
        ("model.holdout_fraction", 0.0, "key 'model.holdout_fraction' must be between 0 and 1"),
        ("scoring.discount_rate", 1.2, "key 'scoring.discount_rate' must be an annual rate in [0, 1)"),
        (
            "scoring.horizons_days",
            [90, 0],
            "key 'scoring.horizons_days' must list horizons of at least one day",
        ),
        (
            "model.gbt.engine",
            "lightgbm",
            "key 'model.gbt.engine' must be one of xgboost, spark and 'model.gbt.workers' ≥ 0 (0: automatic)",
        ),
        (
            "model.gbt.workers",
            -1,
            "key 'model.gbt.engine' must be one of xgboost, spark and 'model.gbt.workers' ≥ 0 (0: automatic)",
        ),
        ("ingest.max_quarantine_rate", 1.5, "key 'ingest.max_quarantine_rate' must be between 0 and 1"),
        ("privacy.vacuum_retention_hours", -1, "key 'privacy.vacuum_retention_hours' must not be negative"),
        (
            "scoring.lifecycle.frequency_window_days",
            45,
            "key 'scoring.lifecycle.frequency_window_days' must be one of the feature windows [30, 90, 180, 365]",
        ),
        (
            "scoring.lifecycle.at_risk_after_days",
            400,
            "key 'scoring.lifecycle' needs new_within_days > 0 and 0 < at_risk_after_days < lost_after_days",
        ),
        (
            "segments.budget.min_share",
            0.5,
            "key 'segments.budget' needs total ≥ 0 and 0 ≤ min_share ≤ max_share ≤ 1",
        ),
        (
            "segments.what_if",
            [{"name": "collapse", "churn_change": -1.5}],
            "key 'segments.what_if' (collapse): a change below −1 (−100 %) is impossible",
        ),
        (
            "segments.export.formats",
            ["csv", "xlsx"],
            "key 'segments.export.formats' allows parquet and csv, got ['xlsx']",
        ),
        ("lake.catalog", "main", "key 'lake.catalog' is set: set 'lake.schema' too (the tables' schema)"),
        (
            "spark.remote",
            "localhost:15002",
            "key 'spark.remote' is 'localhost:15002': a Spark Connect server is sc://host:port",
        ),
        (
            "lake.schema",
            "clv-lake",
            "key 'lake.schema' is 'clv-lake': use letters, digits and underscores only",
        ),
    ],
)
def test_each_validation_rule_names_its_key_and_the_file(tmp_path, key, value, message):
    data = local()
    _set(data, key, value)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == f"{path}: {message}"


def test_the_regressor_takes_its_forms_from_the_config_and_refuses_to_import_without_each():
    from clvlake.config import MODEL_FORMS
    from clvlake.modeling.regressor import FORMS

    assert FORMS is MODEL_FORMS
    code = "import clvlake.config as c; c.MODEL_FORMS += ('sqrt',); import clvlake.modeling.regressor"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert "but clvlake.config.MODEL_FORMS names ['hurdle', 'log1p', 'raw', 'sqrt']" in result.stderr


def test_reading_a_config_does_not_import_spark_ml():
    code = (
        "import sys, clvlake.config as c; c.load_config('conf/local.yml'); print('pyspark.ml' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "root",
    ["s3a://acme/lake", "abfss://lake@acme.dfs.core.windows.net/x", "dbfs:/lake", "gs://a/b", "hdfs://nn/x"],
)
def test_the_demo_salt_is_refused_for_a_shared_lake(tmp_path, monkeypatch, root):
    monkeypatch.delenv("CLVLAKE_SALT", raising=False)
    data = local()
    data["lake"]["root"] = root
    with pytest.raises(ConfigError, match=r"'privacy\.salt' is the public demo salt.*CLVLAKE_SALT"):
        load_config(write(tmp_path, data))
    monkeypatch.setenv("CLVLAKE_SALT", "a-long-random-secret")
    assert load_config(write(tmp_path, data)).lake.root == root


@pytest.mark.parametrize("root", ["./lakehouse", "/srv/lake", "file:///srv/lake", "C:\\lake"])
def test_the_demo_salt_is_fine_for_a_local_lake(tmp_path, monkeypatch, root):
    monkeypatch.delenv("CLVLAKE_SALT", raising=False)
    data = local()
    data["lake"]["root"] = root
    assert load_config(write(tmp_path, data)).privacy.salt == "local-demo-salt-not-secret"


def test_jvm_options_of_the_config_come_after_clvlakes_own(tmp_path):
    settings = SparkSettings("local[2]", "t", 2, "1g", extra={"spark.driver.extraJavaOptions": "-Xss4m"})
    options = local_session_conf(settings, str(tmp_path), quiet=False)["spark.driver.extraJavaOptions"]
    assert options == f"-Dderby.system.home={tmp_path / 'derby'} -Xss4m"
    quiet = local_session_conf(settings, str(tmp_path))["spark.driver.extraJavaOptions"]
    log4j = tmp_path / "log4j2.properties"
    assert (
        quiet
        == f"-Dderby.system.home={tmp_path / 'derby'} -Dlog4j2.configurationFile={log4j.as_uri()} -Xss4m"
    )
    assert "rootLogger.level = warn" in log4j.read_text()


def test_jars_of_the_config_come_after_delta_s_instead_of_replacing_them(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "clvlake.session.delta_jar_conf", lambda: {"spark.jars": "/d/delta.jar,/d/storage.jar"}
    )
    settings = SparkSettings("local[2]", "t", 2, "1g", extra={"spark.jars": "/x/comet.jar"})
    conf = local_session_conf(settings, str(tmp_path))
    assert conf["spark.jars"] == "/d/delta.jar,/d/storage.jar,/x/comet.jar"


def test_a_mapping_of_numbers_is_typed_and_a_word_in_it_is_an_error_naming_the_key(tmp_path):
    data = yaml.safe_load((REPO / "conf" / "local.yml").read_text())
    data["monitoring"]["max_days_without_files"] = {"default": 3, "customers": 35}
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(data))
    assert load_config(path).monitoring.max_days_without_files == {"default": 3, "customers": 35}
    data["monitoring"]["max_days_without_files"]["customers"] = "monthly"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        ConfigError, match=r"key 'monitoring.max_days_without_files.customers' must be an integer"
    ):
        load_config(path)


def test_catalog_mode_keeps_a_laptops_metastore_under_the_lake_and_path_mode_needs_none(tmp_path):
    cfg = load_config(write(tmp_path, local()))
    assert metastore_conf(cfg.lake) == {}
    catalog = dataclasses.replace(cfg.lake, schema="clvlake")
    conf = metastore_conf(catalog)
    assert conf["spark.sql.catalogImplementation"] == "hive"
    store = Path(cfg.lake.root) / "_catalog" / "metastore_db"
    assert (
        conf["spark.hadoop.javax.jdo.option.ConnectionURL"] == f"jdbc:derby:;databaseName={store};create=true"
    )
    as_uri = metastore_conf(dataclasses.replace(catalog, root=f"file://{cfg.lake.root}/"))
    assert (
        as_uri["spark.hadoop.javax.jdo.option.ConnectionURL"]
        == conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    )
    with pytest.raises(ConfigError, match="keeps its metastore under a local lake root"):
        metastore_conf(dataclasses.replace(catalog, root="s3a://bucket/clvlake"))


def test_an_empty_spark_remote_means_no_connect_server(spark, monkeypatch):
    """pyspark takes SPARK_REMOTE's mere presence for Spark Connect; set but empty, clvlake runs classic."""
    monkeypatch.setenv("SPARK_REMOTE", "")
    settings = SparkSettings(master="local[2]", app_name="t", shuffle_partitions=2, driver_memory="1g")
    assert get_spark(settings) is spark
    assert "SPARK_REMOTE" not in os.environ
