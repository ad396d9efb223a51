"""Lifecycle stages, actions, segment tables, cohorts, what-if and budget on hand-made customers."""

from __future__ import annotations

from datetime import date

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from clvlake.config import ActionRow, ActionSpec, BudgetSettings, LifecycleRules, Scenario
from clvlake.errors import ConfigError, InputError
from clvlake.lake import Lake
from clvlake.reporting.budget import SegmentDemand, allocate_budget, water_fill
from clvlake.reporting.cohorts import cohorts
from clvlake.reporting.export import export_campaign, export_path, rewrite_exports_holding
from clvlake.reporting.segments import (
    campaign_export,
    segment_migration,
    segment_summary,
    what_if,
)
from clvlake.scoring.lifecycle import lifecycle_stage, recommended_action
from tests.support.config import config_data, make_config
from tests.support.scores import score_rows

RULES = LifecycleRules(
    new_within_days=90,
    at_risk_after_days=60,
    lost_after_days=365,
    frequency_window_days=180,
    at_risk_frequency_ratio=0.5,
    loyal_min_orders_365d=4,
)
FEATURES = (
    "customer_key string, orders_total int, bt_tenure_days double, days_since_last_purchase int, "
    "orders_180d int, orders_365d int"
)
D1, D2 = date(2025, 1, 1), date(2025, 2, 1)


def test_lifecycle_stage_rules_in_order(spark):
    customers = [
        # key, orders, days since first purchase, days since last, orders 180d, orders 365d, expected stage
        ("never_bought", 0, 0.0, 40, 0, 0, "prospect"),
        ("gone_a_year", 3, 800.0, 365, 0, 0, "lost"),
        ("first_last_month", 1, 30.0, 30, 1, 1, "new"),
        ("new_but_quiet", 1, 80.0, 80, 1, 1, "new"),  # new wins over the 60-day silence
        ("quiet_70_days", 5, 500.0, 70, 1, 2, "at_risk"),
        # usual: (24 − 2) orders over 540 − 180 days = 11 per 180 days; 2 < 0.5 × 11
        ("slowed_down", 24, 540.0, 10, 2, 6, "at_risk"),
        ("steady_regular", 24, 540.0, 10, 8, 16, "loyal"),
        ("short_history", 6, 300.0, 10, 2, 6, "loyal"),  # under a window of history before it: no "usual"
        ("occasional", 3, 700.0, 20, 1, 2, "active"),  # usual below one order per window: never slowed down
    ]
    df = spark.createDataFrame([c[:-1] for c in customers], FEATURES)
    staged = df.select("customer_key", lifecycle_stage(RULES).alias("lifecycle_stage"))
    expected = spark.createDataFrame(
        [(c[0], c[-1]) for c in customers], "customer_key string, lifecycle_stage string"
    )
    assert_df_equality(staged, expected, ignore_row_order=True, ignore_nullable=True)


def test_recommended_action_is_the_matrix_cell(spark):
    matrix = [
        ActionRow("gold", "welcome", "onboard", "cross_sell", "vip", "call", "win_back"),
        ActionRow("bronze", "cheap", "cheap", "cheap", "cheap", "discount", "none"),
    ]
    df = spark.createDataFrame(
        [("gold", "at_risk"), ("bronze", "at_risk"), ("gold", "prospect"), ("bronze", "lost")],
        "value_tier string, lifecycle_stage string",
    )
    actions = df.select(recommended_action(matrix, F.col("value_tier"), F.col("lifecycle_stage")).alias("a"))
    assert [r["a"] for r in actions.collect()] == ["call", "discount", "welcome", "none"]


def test_action_matrix_must_cover_every_tier_with_known_actions(tmp_path):
    data = config_data(tmp_path)
    data["scoring"]["actions"] = data["scoring"]["actions"][1:]
    with pytest.raises(ConfigError, match=r"scoring.actions' needs exactly one row per tier"):
        make_config_from(data)
    data = config_data(tmp_path)
    data["scoring"]["actions"][0]["at_risk"] = "carrier_pigeon"
    with pytest.raises(ConfigError, match=r"\(platinum, at_risk\) names action 'carrier_pigeon'"):
        make_config_from(data)


def make_config_from(data):
    from clvlake.config import config_from_dict

    return config_from_dict(data, "test-config")


def scores_at(spark, score_date, rows):
    """clv_scores-like rows: customer_key, predicted_clv, p_alive, value_tier, lifecycle_stage, action."""
    return spark.createDataFrame(
        [(k, score_date, clv, p, tier, stage, action) for k, clv, p, tier, stage, action in rows],
        "customer_key string, score_date date, predicted_clv double, p_alive double, value_tier string, "
        "lifecycle_stage string, recommended_action string",
    )


ACTIONS = [
    ActionSpec("call", cost=10.0, conversion_rate=0.2, uplift=0.5),
    ActionSpec("mail", cost=1.0, conversion_rate=0.1, uplift=0.1),
    ActionSpec("none", cost=0.0, conversion_rate=0.0, uplift=0.0),
]


def test_segment_summary(spark):
    scores = scores_at(
        spark,
        D2,
        [
            ("a", 300.0, 0.9, "gold", "at_risk", "call"),
            ("b", 100.0, 0.5, "gold", "at_risk", "call"),
            ("c", 100.0, 0.8, "bronze", "active", "mail"),
            ("d", 0.0, 0.1, "bronze", "lost", "none"),
        ],
    )
    previous = scores_at(
        spark,
        D1,
        [  # of gold/at_risk then, a is kept, d was lost and e is gone: 1 of 3; bronze/active: c is kept
            ("a", 1.0, 1.0, "gold", "at_risk", "call"),
            ("d", 1.0, 1.0, "gold", "at_risk", "call"),
            ("e", 1.0, 1.0, "gold", "at_risk", "call"),
            ("c", 1.0, 1.0, "bronze", "active", "mail"),
        ],
    )
    features = spark.createDataFrame(
        [("a", 50.0), ("b", 30.0), ("c", 20.0), ("d", 5.0)], "customer_key string, net_value_total double"
    )
    columns = (
        "segment string, customers long, total_predicted_clv double, avg_predicted_clv double, "
        "value_share double, retention_rate double, mean_churn_probability double, marketing_cost double, "
        "upsell_conversion_rate double, realised_value_to_date double"
    )
    expected = spark.createDataFrame(
        [
            ("gold/at_risk", 2, 400.0, 200.0, 0.8, 1 / 3, 0.3, 20.0, 0.2, 80.0),
            ("bronze/active", 1, 100.0, 100.0, 0.2, 1.0, 0.2, 1.0, 0.1, 20.0),
            ("bronze/lost", 1, 0.0, 0.0, 0.0, None, 0.9, 0.0, 0.0, 5.0),  # nobody was bronze/lost before
        ],
        columns,
    )
    summary = segment_summary(scores, features, previous, ACTIONS)
    assert_approx_df_equality(
        summary.select(*expected.columns), expected, 1e-9, ignore_row_order=True, ignore_nullable=True
    )
    first_date = segment_summary(scores, features, None, ACTIONS)
    assert first_date.where(F.col("retention_rate").isNotNull()).count() == 0


def test_migration_matrix_between_two_score_dates(spark):
    before = scores_at(
        spark,
        D1,
        [
            ("a", 1.0, 1.0, "gold", "active", "x"),
            ("b", 1.0, 1.0, "gold", "active", "x"),
            ("c", 1.0, 1.0, "bronze", "new", "x"),
            ("gone", 1.0, 1.0, "bronze", "active", "x"),
        ],
    )
    after = scores_at(
        spark,
        D2,
        [
            ("a", 1.0, 1.0, "gold", "active", "x"),
            ("b", 1.0, 1.0, "bronze", "at_risk", "x"),
            ("c", 1.0, 1.0, "bronze", "active", "x"),
            ("arrived", 1.0, 1.0, "bronze", "prospect", "x"),
        ],
    )
    migration = segment_migration(after, before, D2, D1)
    expected = spark.createDataFrame(
        [
            (D2, D1, "gold", "active", "gold", "active", 1),
            (D2, D1, "gold", "active", "bronze", "at_risk", 1),
            (D2, D1, "bronze", "new", "bronze", "active", 1),
            (D2, D1, "bronze", "active", "(none)", "(none)", 1),
            (D2, D1, "(none)", "(none)", "bronze", "prospect", 1),
        ],
        "score_date date, previous_score_date date, from_tier string, from_stage string, to_tier string, "
        "to_stage string, customers long",
    )
    assert_df_equality(
        migration.select(*expected.columns), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_cohort_table(spark):
    events = spark.createDataFrame(
        [
            ("a", date(2024, 1, 10), 100.0, True),
            ("a", date(2024, 1, 20), -20.0, False),  # a refund in the first month
            ("a", date(2024, 3, 5), 50.0, True),
            ("b", date(2024, 1, 31), 30.0, True),
            ("c", date(2024, 2, 1), 10.0, True),
            ("c", date(2024, 4, 1), 99.0, True),  # on the score date: not counted
        ],
        "customer_key string, event_date date, net_value double, is_order boolean",
    )
    table = cohorts(events, date(2024, 4, 1)).select(
        "cohort_month",
        "months_since_first",
        "cohort_customers",
        "active_customers",
        "retention_rate",
        "net_value",
        "cumulative_value_per_customer",
    )
    expected = spark.createDataFrame(
        [
            ("2024-01", 0, 2, 2, 1.0, 110.0, 55.0),
            ("2024-01", 1, 2, 0, 0.0, 0.0, 55.0),
            ("2024-01", 2, 2, 1, 0.5, 50.0, 80.0),
            ("2024-02", 0, 1, 1, 1.0, 10.0, 10.0),
            ("2024-02", 1, 1, 0, 0.0, 0.0, 10.0),
        ],
        "cohort_month string, months_since_first int, cohort_customers long, active_customers long, "
        "retention_rate double, net_value double, cumulative_value_per_customer double",
    )
    assert_approx_df_equality(table, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_what_if_arithmetic(spark):
    scores = scores_at(
        spark,
        D1,
        [
            ("a", 100.0, 0.8, "gold", "active", "x"),
            ("b", 50.0, 0.5, "gold", "active", "x"),
            ("c", 10.0, None, "gold", "active", "x"),  # no P(alive): not in the segment's mean
            ("d", 20.0, None, "bronze", "active", "x"),  # no P(alive) at all: churn leaves it unchanged
        ],
    )
    scenarios = [
        Scenario("churn -50%", churn_change=-0.5),
        Scenario("growth", frequency_change=0.10, order_value_change=0.05),
    ]
    table = what_if(scores, scenarios).select(
        "scenario", "segment", "customers", "baseline_clv", "scenario_clv"
    )
    # gold: mean P(alive) 0.65, churn 0.35 → 0.175, P(alive) → 0.825: CLV × 0.825 / 0.65
    expected = spark.createDataFrame(
        [
            ("churn -50%", "gold/active", 3, 160.0, 160.0 * 0.825 / 0.65),
            ("growth", "gold/active", 3, 160.0, 160.0 * 1.1 * 1.05),
            ("churn -50%", "bronze/active", 1, 20.0, 20.0),
            ("growth", "bronze/active", 1, 20.0, 20.0 * 1.1 * 1.05),
        ],
        "scenario string, segment string, customers long, baseline_clv double, scenario_clv double",
    )
    assert_approx_df_equality(table, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def demand(segment, customers, avg_clv, action):
    tier, stage = segment.split("/")
    return SegmentDemand(segment, tier, stage, action, customers, avg_clv)


def test_budget_sums_to_the_total_within_bounds():
    segments = [
        demand("gold/at_risk", 1000, 400.0, "call"),  # gain 0.2 × 0.5 × 400 = 40 per customer: 40,000
        demand("silver/active", 5000, 100.0, "mail"),  # 0.1 × 0.1 × 100 = 1 per customer: 5,000
        demand("bronze/active", 20000, 20.0, "mail"),  # 0.2 per customer: 4,000
        demand("bronze/lost", 9000, 1.0, "none"),  # free action: no budget
    ]
    budget = BudgetSettings(total=4000.0, min_share=0.1, max_share=0.6)
    rows = {r["segment"]: r for r in allocate_budget(segments, ACTIONS, budget)}
    assert sum(r["budget"] for r in rows.values()) == pytest.approx(4000.0)
    shares = {s: r["budget_share"] for s, r in rows.items()}
    # gold's proportional share (40/49) is over 0.6, so it is capped; the rest splits 5:4
    assert shares["gold/at_risk"] == pytest.approx(0.6)
    assert shares["silver/active"] == pytest.approx(0.4 * 5 / 9)
    assert shares["bronze/active"] == pytest.approx(0.4 * 4 / 9)
    assert shares["bronze/lost"] == 0.0
    assert all(0.1 <= shares[s] <= 0.6 for s in shares if s != "bronze/lost")
    assert rows["gold/at_risk"]["customers_reachable"] == 240  # 2,400 / 10 per call
    assert rows["gold/at_risk"]["expected_return"] == pytest.approx(240 * 40.0)


def test_budget_never_pays_for_more_than_every_customer_of_a_segment():
    segments = [demand("gold/at_risk", 10, 400.0, "call"), demand("silver/active", 100, 100.0, "mail")]
    rows = allocate_budget(segments, ACTIONS, BudgetSettings(total=1000.0, min_share=0.0, max_share=1.0))
    assert [r["budget"] for r in rows] == [pytest.approx(100.0), pytest.approx(100.0)]  # full coverage costs


def test_budget_minimums_above_the_total_are_an_error():
    with pytest.raises(InputError, match="below the sum of the segments' minimum shares"):
        water_fill({"a": 1.0, "b": 1.0}, 10.0, {"a": 6.0, "b": 6.0}, {"a": 10.0, "b": 10.0})


def test_campaign_export_keeps_consenting_customers(spark):
    scores = scores_at(
        spark, D1, [("a", 10.0, 0.9, "gold", "active", "mail"), ("b", 5.0, 0.5, "gold", "active", "mail")]
    )
    customers = spark.createDataFrame(
        [("a", True), ("b", False)], "customer_key string, marketing_consent boolean"
    )
    rows = campaign_export(scores, customers, consented_only=True)
    assert [(r["customer_key"], r["segment"], r["recommended_action"]) for r in rows.collect()] == [
        ("a", "gold/active", "mail")
    ]
    assert rows.first()["churn_probability"] == pytest.approx(0.1)
    assert campaign_export(scores, customers, consented_only=False).count() == 2


def test_local_config_action_matrix_is_complete(tmp_path):
    cfg = make_config(tmp_path)
    assert {row.tier for row in cfg.scoring.actions} == {t.name for t in cfg.scoring.tiers}


def test_erasure_rewrites_the_campaign_exports_that_held_the_subject(spark, tmp_path):
    cfg = make_config(tmp_path, segments={"export": {"formats": ["parquet", "csv"], "consented_only": False}})
    lake = Lake(spark, cfg.lake.root)
    for day, keys in ((D1, ["a", "b"]), (D2, ["a"])):
        lake.replace_partition(score_rows(spark, day, keys), "clv_scores", day)
        export_campaign(lake, cfg, day)
    lake.replace_partition(score_rows(spark, D1, ["a"]), "clv_scores", D1)  # b erased from the scores
    subjects = spark.createDataFrame([("b",)], "customer_key string")
    assert rewrite_exports_holding(lake, cfg, subjects) == [D1]  # D2 never held b: left alone
    for file_format in ("parquet", "csv"):
        exported = (
            spark.read.format(file_format).option("header", True).load(export_path(lake, file_format, D1))
        )
        assert [r["customer_key"] for r in exported.collect()] == ["a"], file_format
