"""MLflow tracking and model registry: where runs are logged and which model version scoring uses."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, DataType, Schema
from pyspark.sql import types as T

from clvlake.config import MlflowSettings
from clvlake.errors import InputError

log = logging.getLogger(__name__)
CHAMPION = "champion"
LAKE_TAG = "clvlake.lake"  # the lake a training run trained on
# what MLflow prints to stderr when it registers a model version (clvlake's own log line says it once)
REGISTRATION_NOTES = ("Successfully registered model", "Created version", "Registered model")


def configure(settings: MlflowSettings, experiment_name: str | None = None) -> str:
    """Point MLflow at the configured stores and make the experiment (created if new) the active one.

    `experiment_name` defaults to the configured experiment (monitoring logs to a sibling one)."""
    name = experiment_name or settings.experiment
    if settings.tracking_uri.startswith("sqlite:///"):
        Path(settings.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        artifact_location = settings.artifact_root
        if "://" not in artifact_location:
            Path(artifact_location).mkdir(parents=True, exist_ok=True)
            artifact_location = Path(artifact_location).as_uri()
        experiment_id = mlflow.create_experiment(name, artifact_location=artifact_location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


@contextlib.contextmanager
def registration_notes_logged() -> Iterator[None]:
    """Log MLflow's registration notes, which it prints to stderr, at debug level instead (`clv -v` shows them);
    pass on anything else it prints there (its warnings)."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            yield
    finally:
        for line in printed.getvalue().splitlines():
            if line.startswith(REGISTRATION_NOTES):
                log.debug("mlflow: %s", line)
            else:
                print(line, file=sys.stderr)


def scoring_version(settings: MlflowSettings) -> str:
    """The version scoring uses: the `champion` alias if set, else the latest registered version."""
    client = MlflowClient()
    try:
        return str(client.get_model_version_by_alias(settings.model_name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        pass
    versions = client.search_model_versions(f"name = '{settings.model_name}'")
    if not versions:
        raise InputError(
            f"no registered model '{settings.model_name}' in {settings.registry_uri}: run `clv train`"
        )
    return str(max(int(v.version) for v in versions))


def register(settings: MlflowSettings, model_uri: str) -> str:
    """Register a logged model (`models:/…` or `runs:/…`) as a new version of the configured model; its version."""
    with registration_notes_logged():
        return str(mlflow.register_model(model_uri, settings.model_name).version)


def set_champion(settings: MlflowSettings, version: str) -> None:
    MlflowClient().set_registered_model_alias(settings.model_name, CHAMPION, version)


def run_params(settings: MlflowSettings, version: str) -> dict[str, str]:
    """The parameters logged with the run that produced a registered version (BTYD fit, conformal interval)."""
    client = MlflowClient()
    run_id = client.get_model_version(settings.model_name, version).run_id
    return dict(client.get_run(run_id).data.params)


def end_abandoned_runs(experiment_id: str, lake_root: str) -> list[str]:
    """Mark KILLED the training runs of this lake still RUNNING, and return their ids: MLflow leaves the run of a
    `clv train` killed part-way running for ever. A `clv train` holds the lake's lease, so no other `clv`
    training of this lake is under way (a library call takes no lease: a notebook must not train the lake
    while a job does)."""
    client = MlflowClient()
    lake = lake_root.replace("\\", "\\\\").replace("'", "\\'")
    abandoned = client.search_runs(
        [experiment_id], filter_string=f"attributes.status = 'RUNNING' and tags.`{LAKE_TAG}` = '{lake}'"
    )
    for run in abandoned:
        client.set_terminated(run.info.run_id, status="KILLED")
        log.warning(
            "train: MLflow run %s (%s) was left running by a job that ended without finishing it: marked KILLED",
            run.info.run_id,
            run.info.run_name,
        )
    return [run.info.run_id for run in abandoned]


# MLflow's names of the Spark types of model inputs and outputs
MLFLOW_TYPES = {
    "int": DataType.integer,
    "bigint": DataType.long,
    "float": DataType.float,
    "double": DataType.double,
    "boolean": DataType.boolean,
    "string": DataType.string,
}


def model_signature(inputs: T.StructType, output: str) -> ModelSignature:
    """The registered model's input columns (optional: the model fills a missing value itself) and its double
    output column: a registry in Unity Catalog (`databricks-uc`) accepts no model without one."""
    columns = [ColSpec(MLFLOW_TYPES[f.dataType.simpleString()], f.name, required=False) for f in inputs]
    return ModelSignature(inputs=Schema(columns), outputs=Schema([ColSpec(DataType.double, output)]))
