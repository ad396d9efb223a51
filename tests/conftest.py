"""Shared fixtures: one local SparkSession with Delta for the whole run, and configs on temporary lakes."""

from __future__ import annotations

import pytest

from clvlake.config import Config, SparkSettings
from tests.support.config import TEST_SPARK, make_config


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from clvlake.session import get_spark

    session = get_spark(SparkSettings(**TEST_SPARK), str(tmp_path_factory.mktemp("spark-scratch")))
    yield session
    session.stop()


@pytest.fixture
def cfg(tmp_path) -> Config:
    return make_config(tmp_path)


# The longest files (CI's --durations) start first, so that `-n 2 --dist loadfile` does not end with one worker
# running a long file alone while the other idles: longest-processing-time-first scheduling.
LONGEST_FIRST = (
    "tests/test_pipeline_e2e.py",
    "tests/modeling/test_backtest.py",
    "tests/privacy/test_erase.py",
    "tests/ingest/test_fuzz.py",
    "tests/ingest/test_run.py",
    "tests/features/test_features.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        path = item.path.relative_to(config.rootpath).as_posix()
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file and among the other files is kept
