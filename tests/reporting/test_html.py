"""The HTML report from hand-made aggregates: every section renders, with and without optional parts."""

from __future__ import annotations

from datetime import date

from clvlake.reporting.html import SECTIONS, render
from clvlake.reporting.report_data import ModelEvaluation, ReportData

D0, D1 = date(2025, 12, 1), date(2026, 1, 1)


def segment(tier, stage, customers, clv):
    return {
        "segment": f"{tier}/{stage}",
        "value_tier": tier,
        "lifecycle_stage": stage,
        "recommended_action": "mail",
        "customers": customers,
        "total_predicted_clv": clv * customers,
        "avg_predicted_clv": clv,
        "value_share": 0.5,
        "retention_rate": None,
        "mean_churn_probability": 0.2,
        "realised_value_to_date": 10.0,
    }


def data(**changes) -> ReportData:
    deciles = {
        d: {"customers": 10.0, "mean_predicted": 11.0 - d, "mean_actual": 10.0 - d} for d in range(1, 11)
    }
    base = {
        "score_date": D1,
        "horizon_days": 365,
        "model": "clvlake_clv version 3",
        "tiers": ["gold", "bronze"],
        "segments": [segment("gold", "loyal", 10, 100.0), segment("bronze", "at_risk", 90, 5.0)],
        "histogram": [("0", 50), ("10", 30), ("≥20", 20)],
        "tier_history": {D0: {"gold": 900.0, "bronze": 400.0}, D1: {"gold": 1000.0, "bronze": 450.0}},
        "migration_from": D0,
        "migration": {("gold", "gold"): 9, ("bronze", "gold"): 1, ("(none)", "bronze"): 5},
        "cohorts": [
            {
                "cohort_month": "2025-11",
                "months_since_first": m,
                "retention_rate": r,
                "cumulative_value_per_customer": v,
            }
            for m, r, v in ((0, 1.0, 20.0), (1, 0.3, 26.0))
        ],
        "evaluation": ModelEvaluation(
            D0,
            {"gbt_hurdle": {"normalised_gini": 0.8}, "bgnbd_gamma_gamma": {"normalised_gini": 0.7}},
            {"gbt_hurdle": deciles, "bgnbd_gamma_gamma": deciles},
        ),
        "what_if": [
            {"scenario": "churn -5%", "value_tier": "gold", "baseline_clv": 1000.0, "scenario_clv": 1050.0},
            {"scenario": "churn -5%", "value_tier": "bronze", "baseline_clv": 450.0, "scenario_clv": 460.0},
        ],
        "budget_total": 100.0,
        "budget": [
            {
                "segment": "gold/loyal",
                "recommended_action": "mail",
                "customers": 10,
                "budget": 100.0,
                "budget_share": 1.0,
                "customers_reachable": 10,
                "expected_return": 50.0,
            }
        ],
    }
    return ReportData(**{**base, **changes})


def test_every_section_renders_with_its_charts():
    page = render(data())
    for section, title in SECTIONS:
        assert f'<section id="{section}"><h2>{title}</h2>' in page
    assert page.count("<svg") == 8
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    # the what-if row: gold +5.0% (1000 → 1050), bronze +2.2% (450 → 460), in all +60 = +4.1% of 1450
    assert (
        "<tr><th>scenario</th><th>gold</th><th>bronze</th><th>change</th><th>change %</th></tr></thead>"
        "<tbody><tr><td>churn -5%</td><td>5.0%</td><td>2.2%</td><td>60</td><td>4.1%</td></tr></tbody>"
    ) in page


def test_first_score_date_and_untrained_model_say_so():
    page = render(data(migration_from=None, migration={}, evaluation=None, cohorts=[]))
    assert "This is the first score date" in page
    assert "No backtest yet" in page
    assert "No purchases before the score date" in page


def test_text_from_the_config_is_escaped():
    page = render(data(tiers=["<gold>", "bronze"], model="m <b>"))
    assert "<gold>" not in page and "&lt;gold&gt;" in page and "m &lt;b&gt;" in page
