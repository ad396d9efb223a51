"""`clv pipeline` scheduling semantics with stand-in steps: order, backfills, the run summary, failures."""

from __future__ import annotations

import contextlib
import json
from datetime import date

import pytest

from clvlake import jobs
from clvlake.cli import main
from clvlake.errors import InputError
from clvlake.ingest.run import SourceCounts
from clvlake.jobs import JOBS, Job
from clvlake.pipeline import STEPS, PipelineRun
from tests.support.config import write_config

D1, D2 = date(2025, 5, 1), date(2025, 6, 1)


class FakeSteps:
    """A job registry of stand-ins: records every call; returns what the real steps return (rows, versions,
    model version). The features backfill (several dates in one job) is recorded in `built`."""

    def __init__(self, fail: tuple[str, date] | None = None):
        self.calls: list[tuple[str, date]] = []
        self.built: list[list[date]] = []
        self.fail = fail

    def result(self, step: str, as_of: date) -> dict:
        self.calls.append((step, as_of))
        if (step, as_of) == self.fail:
            raise InputError(f"{step} broke")
        if step == "ingest":
            counts = [SourceCounts(s, 1, n + 1, n, 1, 0) for s, n in (("orders", 10), ("refunds", 2))]
            return {"sources": counts, "table_versions": {"orders": 3}}
        if step == "train":
            return {"model_version": "7", "table_versions": {"training_sets": 4}}
        return {"rows": 5, "table_versions": {f"{step}_table": as_of.day}}

    def backfill(self, dates: list[date]) -> dict:
        self.built.append(list(dates))
        return {"rows": 10, "table_versions": {}}

    def job(self, step: str) -> Job:
        real = JOBS[step]
        return Job(
            run=lambda spark, cfg, as_of: self.result(step, as_of),
            run_dates=(lambda spark, cfg, dates: self.backfill(dates)) if real.run_dates else None,
            rows=real.rows,
        )

    def registry(self) -> dict[str, Job]:
        return {step: self.job(step) for step in JOBS}


def test_one_date_runs_every_step_in_order_and_summarises():
    steps = FakeSteps()
    run = PipelineRun(None, None, steps.registry())
    run.one_date(D1)
    assert steps.calls == [(s, D1) for s in STEPS]
    summary = run.summary()
    assert summary["status"] == "ok" and summary["dates"] == ["2025-05-01"]
    assert summary["model_version"] == "7"
    assert [(r["step"], r["as_of"], r["rows"]) for r in summary["steps"]] == [
        ("purge", "2025-05-01", 5),  # stand-in result; the real step reports no rows
        ("ingest", "2025-05-01", 12),  # accepted rows over the sources
        ("features", "2025-05-01", 5),
        ("train", "2025-05-01", None),
        ("score", "2025-05-01", 5),
        ("report", "2025-05-01", 5),
    ]
    assert summary["table_versions"]["orders"] == 3 and summary["table_versions"]["training_sets"] == 4
    assert all(r["seconds"] >= 0 for r in summary["steps"])


def test_backfill_builds_features_once_then_each_date_without_ingest(capsys):
    steps = FakeSteps()
    run = PipelineRun(None, None, steps.registry())
    run.backfill([D1, D2], train=False)
    assert steps.built == [[D1, D2]]
    assert steps.calls == [("score", D1), ("report", D1), ("score", D2), ("report", D2)]
    assert run.summary()["steps"][0] == {
        "step": "features",
        "as_of": "2025-05-01..2025-06-01",
        "seconds": pytest.approx(0, abs=1),
        "rows": 10,
        "table_versions": {},
    }
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["job"], p["as_of"]) for p in printed] == [
        ("features", "2025-05-01..2025-06-01"),  # the backfill's features job prints its line like any step
        ("score", "2025-05-01"),
        ("report", "2025-05-01"),
        ("score", "2025-06-01"),
        ("report", "2025-06-01"),
    ]


def test_a_failing_step_ends_the_run_and_the_summary_names_it():
    steps = FakeSteps(fail=("train", D1))
    run = PipelineRun(None, None, steps.registry())
    with pytest.raises(InputError, match="train broke"):
        run.one_date(D1)
    assert [c[0] for c in steps.calls] == ["purge", "ingest", "features", "train"]
    summary = run.summary()
    assert summary["status"] == "failed"
    assert summary["failure"] == {"step": "train", "as_of": "2025-05-01", "error": "InputError: train broke"}
    assert [r["step"] for r in summary["steps"]] == ["purge", "ingest", "features"]


def test_cli_prints_the_run_summary_also_when_a_step_fails(tmp_path, monkeypatch, capsys):
    conf = write_config(tmp_path)
    for step, job in FakeSteps(fail=("score", D1)).registry().items():
        monkeypatch.setitem(JOBS, step, job)
    monkeypatch.setattr("clvlake.session.get_spark", lambda settings, quiet, lake: None)
    monkeypatch.setattr(jobs, "lake_lease", lambda spark, cfg, job: contextlib.nullcontext())
    assert main(["pipeline", "--conf", str(conf), "--as-of", D1.isoformat()]) == 2
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["job"] == "pipeline" and summary["failure"]["step"] == "score"
    assert "error: score broke" in captured.err


class ConnectSession:
    """Stands in for a Spark Connect client's session (`clvlake.session.over_connect` goes by the class's module)."""

    __module__ = "pyspark.sql.connect.session"


def test_over_spark_connect_a_pipeline_stops_before_its_first_step_naming_what_needs_a_jvm(
    tmp_path, monkeypatch, capsys
):
    conf = write_config(tmp_path)
    steps = FakeSteps()
    for step, job in steps.registry().items():
        monkeypatch.setitem(JOBS, step, job)
    monkeypatch.setattr("clvlake.session.get_spark", lambda settings, quiet, lake: ConnectSession())
    monkeypatch.setattr(jobs, "lake_lease", lambda spark, cfg, job: contextlib.nullcontext())
    assert main(["pipeline", "--conf", str(conf), "--as-of", D1.isoformat()]) == 2
    assert steps.calls == []
    assert "error: train and score cannot run over Spark Connect" in capsys.readouterr().err
    assert main(["train", "--conf", str(conf), "--as-of", D1.isoformat()]) == 2
    assert steps.calls == []
    assert main(["report", "--conf", str(conf), "--as-of", D1.isoformat()]) == 0
    assert steps.calls == [("report", D1)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "2025-05-01"], "--from needs --to"),
        (["--from", "2025-06-01", "--to", "2025-05-01"], "--to 2025-05-01 is before --from 2025-06-01"),
        (["--as-of", "2025-05-01", "--skip-train"], "--skip-train is for backfills"),
    ],
)
def test_bad_backfill_arguments_are_clear_errors(tmp_path, capsys, args, message):
    conf = write_config(tmp_path)
    assert main(["pipeline", "--conf", str(conf), *args]) == 2
    assert message in capsys.readouterr().err
