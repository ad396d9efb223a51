"""Error injection: bad rows derived from good ones, for quarantine demos (``error_rate`` > 0).

Each bad row copies a random good row and gets one of its source's error kinds; every kind but ``duplicate``
also gets a fresh id (``OX0000001``) so that no good row is shadowed. See docs/data_generator.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from clvlake.datagen.files import serialise
from clvlake.datagen.formats import ID_DIGITS, SOURCES, SourceSpec, ids
from clvlake.datagen.process import random_stream

BAD_TIMESTAMPS = ("not-a-timestamp", "2024-13-45T25:61:00Z", "31/12/2024 10:00")
FUTURE_SHIFT = timedelta(days=3653)
NO_BAD_ROWS = pd.DataFrame({"position": np.array([], dtype=int), "kind": [], "key": [], "raw": []})


def _fresh_ids(prefix: str, first: int, n: int) -> np.ndarray:
    """Ids in a namespace real rows never use: ``OX0000001`` (injected rows), ``OY0000001`` (unknown refs)."""
    return ids(prefix, np.arange(first, first + n, dtype=np.int64), ID_DIGITS - 1)


def _future(timestamps: pd.Series) -> pd.Series:
    return (pd.to_datetime(timestamps, utc=True) + FUTURE_SHIFT).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# kind -> (the column it changes, None for the source's timestamp column; its new values from (old values, rng,
# first fresh id number)). ``duplicate`` keeps the row as it is; ``malformed`` cuts its line in half (``bad_rows``).
DAMAGE: dict[str, tuple[str | None, Callable[[pd.Series, np.random.Generator, int], Any]]] = {
    "bad_timestamp": (None, lambda old, rng, first: rng.choice(BAD_TIMESTAMPS, len(old))),
    "future_timestamp": (None, lambda old, rng, first: _future(old)),
    "negative_amount": ("gross_amount", lambda old, rng, first: -old),
    "unknown_currency": ("currency", lambda old, rng, first: "XXX"),
    "orphan_refund": ("order_id", lambda old, rng, first: _fresh_ids("OY", first, len(old))),
}


def _corrupt(
    bad: pd.DataFrame, kinds: np.ndarray, spec: SourceSpec, rng: np.random.Generator, first_id: int
) -> pd.DataFrame:
    """Apply each row's error kind; all kinds but ``duplicate`` get a fresh id."""
    fresh = kinds != "duplicate"
    bad.loc[fresh, spec.id_column] = _fresh_ids(spec.id_prefix + "X", first_id, int(fresh.sum()))
    for kind in spec.error_kinds:
        if kind in DAMAGE:
            column, damage = DAMAGE[kind]
            column, rows = column or spec.ts_column, kinds == kind
            bad.loc[rows, column] = damage(bad.loc[rows, column], rng, first_id)
    return bad


def bad_rows(
    frame: pd.DataFrame, spec: SourceSpec, rng: np.random.Generator, rate: float, first_id: int
) -> pd.DataFrame:
    """Bad rows derived from random rows of ``frame``: position (of the source row), kind, key, raw line."""
    n_bad = rng.binomial(len(frame), rate)
    positions = np.sort(rng.choice(len(frame), n_bad, replace=False))
    kinds = rng.choice(spec.error_kinds, n_bad)
    bad = _corrupt(frame.iloc[positions].reset_index(drop=True), kinds, spec, rng, first_id)
    raw = [
        line[: len(line) // 2] if kind == "malformed" else line
        for line, kind in zip(serialise(bad, spec.fmt).splitlines(), kinds, strict=True)
    ]
    key = bad[spec.id_column].to_numpy()
    return pd.DataFrame({"position": positions, "kind": kinds, "key": key, "raw": raw})


class ErrorInjector:
    """Bad rows for each (chunk, source) from its own random stream, numbered across the whole run."""

    def __init__(self, seed: int, rate: float) -> None:
        self.seed, self.rate = seed, rate
        self.injected = 0

    def bad_rows(self, spec: SourceSpec, frame: pd.DataFrame, chunk: int) -> pd.DataFrame:
        """``NO_BAD_ROWS`` when the rate is 0 or the frame is empty."""
        if self.rate == 0 or frame.empty:
            return NO_BAD_ROWS
        key = chunk * len(SOURCES) + list(SOURCES).index(spec.name)
        bad = bad_rows(frame, spec, random_stream(self.seed, key, "errors"), self.rate, self.injected + 1)
        self.injected += len(bad)
        return bad
