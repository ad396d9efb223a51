"""The CLV report: one self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched)."""

from __future__ import annotations

from collections import defaultdict
from html import escape

from clvlake.modeling.baselines import BTYD
from clvlake.reporting.charts import bar_chart, heatmap, horizontal_bars, line_chart
from clvlake.reporting.report_data import ReportData
from clvlake.reporting.segments import NOT_SCORED

SECTIONS = (
    ("overview", "Overview"),
    ("distribution", "CLV distribution"),
    ("tiers", "Value by tier over score dates"),
    ("lifecycle", "Lifecycle funnel"),
    ("migration", "Segment migration"),
    ("cohorts", "Cohorts"),
    ("model", "Model against the baselines"),
    ("what-if", "What-if scenarios"),
    ("budget", "Budget allocation"),
    ("segments", "Segments"),
)
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f5f8b;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}nav{padding:8px 32px;background:#fff;border-bottom:1px solid #ddd}
nav a{margin-right:14px;color:#1f5f8b;text-decoration:none;font-size:14px}
main{padding:8px 32px 40px}section{background:#fff;border:1px solid #e2e4e8;border-radius:6px;margin:18px 0;
padding:16px 20px}h2{font-size:18px;margin:0 0 10px}p.note{color:#555;font-size:13px;margin:6px 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #e2e4e8;border-radius:6px;padding:10px 14px;
min-width:150px}.card b{display:block;font-size:20px}.card span{font-size:12px;color:#555}
table{border-collapse:collapse;font-size:13px;margin-top:8px}th,td{padding:4px 10px;border-bottom:1px solid #eee;
text-align:right}th{background:#f0f2f5}td:first-child,th:first-child{text-align:left}svg{max-width:100%;height:auto}
"""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def overview(data: ReportData) -> str:
    customers = sum(s["customers"] for s in data.segments)
    total = sum(s["total_predicted_clv"] for s in data.segments)
    top = data.tiers[0]
    top_share = sum(s["value_share"] for s in data.segments if s["value_tier"] == top)
    at_risk = sum(s["total_predicted_clv"] for s in data.segments if s["lifecycle_stage"] == "at_risk")
    cards = [
        (f"{customers:,}", "customers scored"),
        (_money(total), f"predicted net value, next {data.horizon_days} days"),
        (f"{total / customers:,.2f}" if customers else "–", "average predicted CLV"),
        (_pct(top_share), f"of the value in the {top} tier"),
        (_money(at_risk), "predicted value of at-risk customers"),
    ]
    html = "".join(f'<div class="card"><b>{escape(v)}</b><span>{escape(t)}</span></div>' for v, t in cards)
    return f'<div class="cards">{html}</div><p class="note">Scored with {escape(data.model)}.</p>'


def distribution(data: ReportData) -> str:
    labels = [label for label, _ in data.histogram]
    counts = [float(n) for _, n in data.histogram]
    return bar_chart(labels, counts, "Customers by predicted CLV", "predicted CLV", "customers")


def tiers(data: ReportData) -> str:
    dates = sorted(data.tier_history)
    if len(dates) == 1:
        totals = [data.tier_history[dates[0]].get(t, 0.0) for t in data.tiers]
        chart = bar_chart(data.tiers, totals, "Predicted CLV by tier", f"tier on {dates[0]}", "total CLV")
    else:
        series = {t: [data.tier_history[d].get(t) for d in dates] for t in data.tiers}
        dates_text = [d.isoformat() for d in dates]
        chart = line_chart(dates_text, series, "Predicted CLV by tier", "score date", "total CLV")
    rows = [[d.isoformat(), *[_money(data.tier_history[d].get(t)) for t in data.tiers]] for d in dates]
    return chart + _table(["score date", *data.tiers], rows)


def lifecycle(data: ReportData) -> str:
    customers, value = defaultdict(int), defaultdict(float)
    for s in data.segments:
        customers[s["lifecycle_stage"]] += s["customers"]
        value[s["lifecycle_stage"]] += s["total_predicted_clv"]
    stages = data.stages
    chart = horizontal_bars(
        stages, [float(customers[s]) for s in stages], "Customers per lifecycle stage", ""
    )
    rows = [[s, f"{customers[s]:,}", _money(value[s])] for s in stages]
    return chart + _table(["stage", "customers", "predicted CLV"], rows)


def migration(data: ReportData) -> str:
    if data.migration_from is None:
        return '<p class="note">This is the first score date: there is no earlier one to compare with.</p>'
    order = [*data.tiers, NOT_SCORED]
    present = [t for t in order if any(t in key for key in data.migration)]
    cells = {k: float(v) for k, v in data.migration.items()}
    note = (
        f'<p class="note">Customers by value tier on {data.migration_from} (rows) and {data.score_date} '
        "(columns); (none): not scored on that date.</p>"
    )
    return note + heatmap(present, present, cells, "Tier migration", "tier now", "tier before")


def cohorts(data: ReportData) -> str:
    if not data.cohorts:
        return '<p class="note">No purchases before the score date.</p>'
    months = sorted({c["cohort_month"] for c in data.cohorts})
    offsets = sorted({c["months_since_first"] for c in data.cohorts})
    retention = {(c["cohort_month"], str(c["months_since_first"])): c["retention_rate"] for c in data.cohorts}
    value = {
        (c["cohort_month"], str(c["months_since_first"])): c["cumulative_value_per_customer"]
        for c in data.cohorts
    }
    cols = [str(o) for o in offsets]
    later = max([r for (_, m), r in retention.items() if m != "0"], default=None)  # month 0 is always 100 %
    return (
        '<p class="note">Share of each first-purchase cohort buying in each month since its first purchase '
        "(colours scaled to the months after the first), then cumulative net value per customer.</p>"
        + heatmap(
            months, cols, retention, "Cohort retention", "months since first purchase", "cohort", True, later
        )
        + heatmap(
            months, cols, value, "Cumulative value per customer", "months since first purchase", "cohort"
        )
    )


def model(data: ReportData) -> str:
    evaluation = data.evaluation
    if evaluation is None:
        return '<p class="note">No backtest yet: run <code>clv train</code>.</p>'
    methods = sorted(evaluation.metrics)
    metric_names = ["normalised_gini", "spearman", "rmse", "mae", "top_decile_capture", "total_ratio"]
    rows = [
        [m, *[f"{evaluation.metrics[m].get(k, float('nan')):.3f}" for k in metric_names]] for m in methods
    ]
    gain = {}
    for m in methods:
        deciles = evaluation.deciles.get(m, {})
        values = [deciles[d]["customers"] * deciles[d]["mean_actual"] for d in sorted(deciles)]
        total = sum(values) or 1.0
        gain[m] = [0.0, *[sum(values[: i + 1]) / total for i in range(len(values))]]
    x = [f"{10 * i}%" for i in range(11)]
    best = max(
        (m for m in methods if m.startswith("gbt_")),
        key=lambda m: evaluation.metrics[m].get("normalised_gini", float("-inf")),
        default=None,
    )
    calibration = {}
    for m in [best, BTYD]:
        if m in evaluation.deciles:
            deciles = evaluation.deciles[m]
            calibration[f"{m} predicted"] = [deciles[d]["mean_predicted"] for d in sorted(deciles)]
            calibration[f"{m} actual"] = [deciles[d]["mean_actual"] for d in sorted(deciles)]
    return (
        f'<p class="note">Held-out customers of the backtest at {evaluation.snapshot}: predicted against realised '
        f"net value over the next {data.horizon_days} days.</p>"
        + _table(["method", *metric_names], rows)
        + line_chart(
            x, gain, "Gain curve", "customers, highest predicted first", "share of value", diagonal=True
        )
        + line_chart(
            [str(d) for d in range(1, 11)],
            calibration,
            "Decile calibration",
            "decile (1 = highest)",
            "mean value",
        )
    )


def what_if(data: ReportData) -> str:
    by_scenario: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for r in data.what_if:
        cell = by_scenario[r["scenario"]][r["value_tier"]]
        cell[0] += r["baseline_clv"]
        cell[1] += r["scenario_clv"]
    rows = []
    for scenario, tiers_ in by_scenario.items():
        base = sum(v[0] for v in tiers_.values())
        new = sum(v[1] for v in tiers_.values())
        changes = [
            _pct((tiers_[t][1] - tiers_[t][0]) / tiers_[t][0]) if tiers_[t][0] else "–" for t in data.tiers
        ]
        rows.append([scenario, *changes, _money(new - base), _pct((new - base) / base if base else None)])
    return (
        '<p class="note">Change in predicted CLV per tier under each scenario in conf '
        "(<code>segments.what_if</code>).</p>" + _table(["scenario", *data.tiers, "change", "change %"], rows)
    )


def budget(data: ReportData) -> str:
    funded = sorted((b for b in data.budget if b["budget"] > 0), key=lambda b: -b["budget"])
    rows = [
        [
            b["segment"],
            b["recommended_action"],
            f"{b['customers']:,}",
            _money(b["budget"]),
            _pct(b["budget_share"]),
            f"{b['customers_reachable']:,}",
            _money(b["expected_return"]),
        ]
        for b in funded
    ]
    allocated = sum(b["budget"] for b in data.budget)
    note = f"{_money(allocated)} of {_money(data.budget_total)} allocated by expected incremental value"
    if allocated < data.budget_total - 0.5:
        note += (
            f"; {_money(data.budget_total - allocated)} left, more than contacting every customer of the segments "
            "within their bounds costs"
        )
    return f'<p class="note">{escape(note)}.</p>' + _table(
        ["segment", "action", "customers", "budget", "share", "reachable", "expected return"], rows
    )


def segments(data: ReportData) -> str:
    ordered = sorted(data.segments, key=lambda s: -s["total_predicted_clv"])
    rows = [
        [
            s["segment"],
            s["recommended_action"],
            f"{s['customers']:,}",
            _money(s["total_predicted_clv"]),
            f"{s['avg_predicted_clv']:,.2f}",
            _pct(s["value_share"]),
            _pct(s["retention_rate"]),
            _pct(s["mean_churn_probability"]),
            _money(s["realised_value_to_date"]),
        ]
        for s in ordered
    ]
    headers = [
        "segment",
        "action",
        "customers",
        "total CLV",
        "avg CLV",
        "value share",
        "retention",
        "churn",
        "realised to date",
    ]
    return _table(headers, rows)


RENDERERS = {
    "overview": overview,
    "distribution": distribution,
    "tiers": tiers,
    "lifecycle": lifecycle,
    "migration": migration,
    "cohorts": cohorts,
    "model": model,
    "what-if": what_if,
    "budget": budget,
    "segments": segments,
}


def render(data: ReportData) -> str:
    nav = "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title in SECTIONS)
    sections = "".join(
        f'<section id="{sid}"><h2>{escape(title)}</h2>{RENDERERS[sid](data)}</section>'
        for sid, title in SECTIONS
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>CLV report {data.score_date}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
        f"<body><header><h1>Customer lifetime value, {data.score_date}</h1><p>Predicted net value per customer "
        f"over the next {data.horizon_days} days</p></header><nav>{nav}</nav><main>{sections}</main></body></html>"
    )
