"""Shared fixtures: one local SparkSession with Delta for the whole run, and configs on temporary lakes."""

from __future__ import annotations

import pytest

from clvlake.config import Config, SparkSettings
from tests.support.config import make_config


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from clvlake.session import get_spark

    session = get_spark(
        SparkSettings(master="local[2]", app_name="clvlake-tests", shuffle_partitions=2, driver_memory="2g"),
        str(tmp_path_factory.mktemp("spark-scratch")),
    )
    yield session
    session.stop()


@pytest.fixture
def cfg(tmp_path) -> Config:
    return make_config(tmp_path)
