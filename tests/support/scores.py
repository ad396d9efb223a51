"""Gold rows made by hand, for tests of what reads them (reports, exports, erasure)."""

from __future__ import annotations

from clvlake.schemas import CLV_SCORES


def score_rows(spark, score_date, keys):
    """Full `clv_scores` rows for some customers of one score date."""
    row = {
        "score_date": score_date,
        "predicted_clv": 10.0,
        "p_alive": 0.5,
        "value_tier": "gold",
        "lifecycle_stage": "active",
        "recommended_action": "cross_sell",
        "model_name": "m",
        "model_version": "1",
        "feature_snapshot_date": score_date,
        "horizon_days": 365,
        "input_table_versions": {},
    }
    fields = CLV_SCORES.fieldNames()
    return spark.createDataFrame(
        [tuple({**row, "customer_key": k}.get(f) for f in fields) for k in keys], CLV_SCORES
    )
