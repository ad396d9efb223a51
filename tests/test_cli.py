"""The command line: clear errors without tracebacks, exit code 2."""

import contextlib
import subprocess
import sys

import pytest

from clvlake.cli import main
from clvlake.errors import InputError
from tests.support.config import make_config, write_config


def test_bad_config_exits_2_with_the_key(tmp_path, capsys):
    conf = write_config(tmp_path, model={"horizon_days": -5})
    assert main(["features", "--conf", str(conf), "--as-of", "2025-01-01"]) == 2
    err = capsys.readouterr().err
    assert "model.horizon_days" in err and "Traceback" not in err


def test_missing_config_file_exits_2(tmp_path, capsys):
    assert main(["ingest", "--conf", str(tmp_path / "nope.yml"), "--as-of", "2025-01-01"]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_bad_date_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "--as-of", "01/02/2025"])
    assert exit_info.value.code == 2
    assert "expected a date YYYY-MM-DD" in capsys.readouterr().err


def test_scoring_before_features_exist_names_the_table(spark, tmp_path, capsys):
    conf = write_config(tmp_path)
    assert main(["score", "--conf", str(conf), "--as-of", "2025-01-01"]) == 2
    assert "table 'customer_features' does not exist yet" in capsys.readouterr().err


def test_a_java_heap_exhaustion_is_one_error_line_naming_the_setting(tmp_path, monkeypatch, capsys):
    from clvlake import jobs

    def exhausted(spark, cfg, as_of):
        raise RuntimeError(
            "An error occurred while calling o123.save.\n: java.lang.OutOfMemoryError: Java heap space"
        )

    monkeypatch.setitem(jobs.JOBS, "ingest", jobs.Job(exhausted))
    monkeypatch.setattr("clvlake.session.get_spark", lambda settings, quiet, lake: None)
    monkeypatch.setattr(jobs, "lake_lease", lambda spark, cfg, job: contextlib.nullcontext())
    conf = write_config(tmp_path)
    assert main(["ingest", "--conf", str(conf), "--as-of", "2025-01-01"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        f"error: clv ingest ran out of Java heap memory; raise spark.driver_memory in {conf} (local mode: the "
        "driver runs the tasks too) or the executors' memory on a cluster, and run it again (every job "
        "replaces its own output, so a rerun is safe)"
    )
    assert "Traceback" not in err


def test_clv_sql_needs_catalog_mode_and_names_a_bad_query_in_one_line(spark, tmp_path):
    from clvlake import jobs

    with pytest.raises(InputError, match="clv sql finds tables by name: set 'lake.schema'"):
        jobs.query(spark, make_config(tmp_path), "SELECT 1", 5)
    cfg = make_config(tmp_path, lake={"schema": "clv_sql_errors"})
    try:
        with pytest.raises(InputError, match=r"^clv sql: \[TABLE_OR_VIEW_NOT_FOUND\] .*`no_such_table`"):
            jobs.query(spark, cfg, "SELECT * FROM no_such_table", 5)
        with pytest.raises(
            InputError, match=r"^clv sql: \[PARSE_SYNTAX_ERROR\] Syntax error at or near 'SELEC'"
        ):
            jobs.query(spark, cfg, "SELEC 1", 5)
    finally:
        spark.sql("USE default")  # the test session is shared


def test_the_commands_that_fit_no_model_load_neither_mlflow_nor_xgboost():
    """MLflow and XGBoost (with scikit-learn: some 200 MB of a driver) come with train, score, backtest and monitor
    alone (`jobs.imported_on_call`); a fresh interpreter shows what importing the jobs loads."""
    heavy = "('mlflow', 'xgboost', 'sklearn')"
    code = f"import sys, clvlake.jobs; print(sorted(m for m in {heavy} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
