"""Typed YAML: a file read into frozen dataclasses, with errors that name the key and the file.

`${VAR}` and `${VAR:-default}` in string values are replaced from the environment, so secrets (the
pseudonymisation salt) and per-environment paths stay out of the files. Relative local paths are resolved
against the current directory, so every job, Spark and MLflow agree on one absolute location.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from clvlake.config.settings import Config
from clvlake.config.validation import validate
from clvlake.errors import ConfigError

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def expand_env(text: str) -> str:
    """Replace `${VAR}` / `${VAR:-default}`; an unset variable without a default is an error."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"environment variable {name} is not set and has no default")
            return default
        return value

    return _ENV_PATTERN.sub(substitute, text)


def absolute_location(location: str) -> str:
    """A local path made absolute; URIs (s3a:, abfss:, dbfs:, file:, sqlite:) are returned unchanged."""
    if _URI_SCHEME.match(location):
        return location
    return str(Path(location).expanduser().resolve())


def _convert(value: Any, hint: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key, source)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: key '{key}' must be a list, got {value!r}")
        (item_hint,) = typing.get_args(hint)
        return [_convert(item, item_hint, f"{key}[{i}]", source) for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: key '{key}' must be a mapping, got {value!r}")
        _, value_hint = typing.get_args(hint)
        return {str(k): _convert(v, value_hint, f"{key}.{k}", source) for k, v in value.items()}
    if hint is date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(_expand(str(value), key, source))
        except ValueError:
            raise ConfigError(f"{source}: key '{key}' must be a date YYYY-MM-DD, got {value!r}") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: key '{key}' must be true or false, got {value!r}")
        return value
    if hint in (int, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (hint is int and value != int(value))
        ):
            raise ConfigError(
                f"{source}: key '{key}' must be a{'n integer' if hint is int else ' number'}, got {value!r}"
            )
        return hint(value)
    if hint is str:
        if isinstance(value, (dict, list)) or value is None:
            raise ConfigError(f"{source}: key '{key}' must be a string, got {value!r}")
        return _expand(str(value), key, source)
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def _expand(text: str, key: str, source: str) -> str:
    try:
        return expand_env(text)
    except ConfigError as err:
        raise ConfigError(f"{source}: key '{key}': {err}") from None


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{prefix or '<top level>'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source_file"}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"{source}: unknown key '{where}' (allowed here: {', '.join(sorted(fields))})")
    values = {}
    for name, spec in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            if spec.default is not dataclasses.MISSING or spec.default_factory is not dataclasses.MISSING:
                continue
            raise ConfigError(f"{source}: missing key '{key}'")
        values[name] = _convert(data[name], hints[name], key, source)
    return cls(**values)


def _resolve_locations(cfg: Config) -> Config:
    return dataclasses.replace(
        cfg,
        lake=dataclasses.replace(
            cfg.lake, root=absolute_location(cfg.lake.root), landing=absolute_location(cfg.lake.landing)
        ),
        mlflow=dataclasses.replace(cfg.mlflow, artifact_root=absolute_location(cfg.mlflow.artifact_root)),
        generator=dataclasses.replace(cfg.generator, oracle_dir=absolute_location(cfg.generator.oracle_dir)),
        segments=dataclasses.replace(cfg.segments, report_dir=absolute_location(cfg.segments.report_dir)),
    )


def config_from_dict(data: dict[str, Any], source: str = "<memory>") -> Config:
    """Build and validate a Config from already-parsed YAML (tests use this with temporary paths)."""
    cfg = dataclasses.replace(_build(Config, data, "", source), source_file=source)
    validate(cfg)
    return _resolve_locations(cfg)


def _read_yaml(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    try:
        return yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}: not valid YAML: {err}") from None


def load_config(path: str | Path) -> Config:
    """Read a YAML config file; every problem names the key and the file."""
    return config_from_dict(_read_yaml(Path(path)), str(path))


def load_dataclass(cls: type, path: str | Path) -> Any:
    """Read a YAML file into dataclass `cls` with the config's checks (e.g. conf/sources/*.yml mappings)."""
    return _build(cls, _read_yaml(Path(path)), "", str(path))
