"""The salt: the same keys as before, never in a Spark plan, and a lake refuses a job with another salt."""

import threading
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from clvlake.cli import main
from clvlake.ingest.pseudonymise import FINGERPRINT_PROPERTY, customer_key, salt_fingerprint
from clvlake.lake import Lake
from clvlake.session import java_class
from tests.support.config import write_config
from tests.support.landing import CUSTOMERS_HEADER, POS_HEADER, mapping_file

SALT, OTHER_SALT = "pepper-8f2c1e9a77d04b", "another-salt-5e1b0c"
AS_OF = "2025-01-01"


def test_customer_key_is_sha256_of_salt_and_trimmed_id(spark):
    ids = spark.createDataFrame([(" C1 ",), ("Ünïcode",), ("\tC2",), (None,)], "customer_id string")
    expected = ids.select(
        F.sha2(F.concat(F.lit(SALT), F.lit("|"), F.trim("customer_id")), 256).alias("k")
    )  # the keys every existing lake holds
    assert_df_equality(ids.select(customer_key(F.col("customer_id"), SALT).alias("k")), expected)


def test_a_key_built_in_another_thread_is_the_same(spark):
    """A thread has no active session of its own (a notebook or service loading sources in threads): the salt's
    view is registered on the default one."""
    ids = spark.createDataFrame([("C1",)], "customer_id string")
    built: list = []
    worker = threading.Thread(target=lambda: built.append(customer_key(F.col("customer_id"), SALT)))
    worker.start()
    worker.join()
    assert_df_equality(
        ids.select(built[0].alias("k")), ids.select(customer_key(F.col("customer_id"), SALT).alias("k"))
    )


def test_the_salt_is_in_no_plan(spark):
    keys = spark.createDataFrame([("C1",)], "customer_id string").select(
        customer_key(F.col("customer_id"), SALT).alias("customer_key")
    )
    keys.collect()
    execution = keys._jdf.queryExecution()
    assert "customer_key" in execution.toString()
    for plan in (
        execution.toString(),
        execution.executedPlan().toString(),
        execution.explainString(
            java_class(spark, "org.apache.spark.sql.execution.ExplainMode").fromString("extended")
        ),
    ):
        assert SALT not in plan


@pytest.fixture(scope="module")
def lake_with_keys(spark, tmp_path_factory):
    """A lake ingested with SALT (one customer, one transactions line), and configs with SALT and another."""
    root = tmp_path_factory.mktemp("salted")
    transactions = {"transaction_sources": [mapping_file(root)], "max_quarantine_rate": 1.0}
    pos, crm = root / "landing" / "pos" / "pos.txt", root / "landing" / "customers" / "customers.csv"
    for path, lines in ((pos, [POS_HEADER, "C1  01.03.2024  10.00  1"]), (crm, [CUSTOMERS_HEADER, CRM_LINE])):
        path.parent.mkdir(parents=True)
        path.write_text("\n".join(lines) + "\n")
    right = write_config(
        root / "right",
        lake={"root": str(root / "lake"), "landing": str(root / "landing")},
        ingest=transactions,
        privacy={"salt": SALT},
    )
    wrong = write_config(
        root / "wrong",
        lake={"root": str(root / "lake"), "landing": str(root / "landing")},
        ingest=transactions,
        privacy={"salt": OTHER_SALT},
    )
    assert main(["ingest", "--conf", str(right), "--as-of", AS_OF]) == 0
    return Lake(spark, str(root / "lake")), right, wrong


CRM_LINE = "C1,2024-02-01T10:00:00Z,organic,DE,c1@example.com,Ann,true"


def fingerprint(spark, lake: Lake) -> str | None:
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{lake.path('customer_identity')}`").first()
    return detail["properties"].get(FINGERPRINT_PROPERTY)


@pytest.mark.parametrize("job", ["ingest", "features"])
def test_a_job_with_another_salt_stops_naming_the_problem_not_the_salts(lake_with_keys, capsys, job):
    lake, _, wrong = lake_with_keys
    keys = lake.read("customer_identity").count()
    assert main([job, "--conf", str(wrong), "--as-of", AS_OF]) == 2
    err = capsys.readouterr().err
    assert "differs from the salt the customer keys of the lake" in err and "CLVLAKE_SALT" in err
    assert SALT not in err and OTHER_SALT not in err
    assert lake.read("customer_identity").count() == keys  # no second key per customer


def test_the_lake_records_a_fingerprint_of_its_salt_not_the_salt(spark, lake_with_keys):
    lake, right, wrong = lake_with_keys
    assert main(["ingest", "--conf", str(right), "--as-of", AS_OF]) == 0  # nothing new; the check stamps
    assert fingerprint(spark, lake) == salt_fingerprint(SALT) != salt_fingerprint(OTHER_SALT)
    assert SALT not in fingerprint(spark, lake)
    log = "".join(p.read_text() for p in Path(lake.path("customer_identity"), "_delta_log").glob("*.json"))
    assert SALT not in log
    assert main(["features", "--conf", str(wrong), "--as-of", AS_OF]) == 2  # checked by the fingerprint now
