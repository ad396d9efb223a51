"""The small generated pipeline run of the end-to-end and cluster tests: its date and its config overrides."""

from __future__ import annotations

from datetime import date

AS_OF = date(2025, 7, 1)
SMALL = {
    "generator": {"start": "2024-01-01", "end": "2025-06-30"},  # a year of history: BG/NBD sees dropout
    "model": {  # one form and one backtest snapshot: the forms' selection is tested in tests/modeling/
        "horizon_days": 181,
        "forms": ["log1p"],
        "backtest_snapshots": 1,
        "pooled_snapshots": 1,  # pooling is tested in tests/modeling/test_modeling.py
        "gbt": {"max_iter": 10, "max_depth": 3, "step_size": 0.3, "subsampling_rate": 1.0},
    },
}
