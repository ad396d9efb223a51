"""Streamed, atomic file writing: chunks are appended to ``<file>.tmp`` and all files are published at the end."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from clvlake.datagen.formats import SourceSpec

MANIFEST_COLUMNS = ("source", "file", "kind", "key", "raw")


def serialise(frame: pd.DataFrame, fmt: str, float_format: str | None = "%.2f") -> str:
    """Rows as text lines without header: CSV (floats with ``float_format``) or one JSON object per line."""
    if frame.empty:
        return ""
    if fmt == "csv":
        return frame.to_csv(index=False, header=False, float_format=float_format, lineterminator="\n")
    return frame.to_json(orient="records", lines=True)


def _header(columns: Iterable[str], fmt: str) -> str:
    return ",".join(columns) + "\n" if fmt == "csv" else ""


def _mix(text: str, after: np.ndarray, raw: list[str]) -> str:
    """Insert each raw line right after the good line with local index ``after[i]``."""
    if not raw:
        return text
    lines = text.splitlines()
    for position, line in sorted(zip(after, raw, strict=True), key=lambda pair: -pair[0]):
        lines.insert(int(position) + 1, line)
    return "\n".join(lines) + "\n"


def clear_tmp(folders: Iterable[Path]) -> None:
    """Remove ``*.tmp`` files an interrupted run left behind."""
    for folder in folders:
        for path in folder.glob("*.tmp"):
            path.unlink()


class AtomicFiles:
    """Appends text to ``<final>.tmp`` files and publishes them all with ``os.replace`` at the end."""

    def __init__(self) -> None:
        self.pending: dict[Path, Path] = {}

    def append(self, final: Path, text: str, header: str) -> None:
        tmp = self.pending.get(final)
        if tmp is None:
            tmp = final.with_name(final.name + ".tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(header, encoding="utf-8")
            self.pending[final] = tmp
        with tmp.open("a", encoding="utf-8", newline="") as handle:
            handle.write(text)

    def append_csv(self, final: Path, frame: pd.DataFrame) -> None:
        """Oracle-side CSV: header from the frame, floats at full precision."""
        self.append(final, serialise(frame, "csv", float_format=None), _header(frame.columns, "csv"))

    def publish(self) -> set[Path]:
        for final, tmp in sorted(self.pending.items()):
            os.replace(tmp, final)
        return set(self.pending)


class LandingFiles:
    """Streams contract frames to monthly landing files, each bad row right after the row it came from;
    ``manifest`` collects the bad lines with the file they went to."""

    def __init__(self, out_dir: Path, files: AtomicFiles) -> None:
        self.out_dir, self.files = out_dir, files
        self.manifest: list[pd.DataFrame] = []

    def write(self, spec: SourceSpec, frame: pd.DataFrame, months: np.ndarray, bad: pd.DataFrame) -> None:
        """``bad`` as from ``errors.bad_rows``: position of the source row in ``frame``, kind, key, raw line."""
        bad_months = months[bad["position"].to_numpy()]
        for month in np.unique(months):
            rows = np.flatnonzero(months == month)
            path = self.out_dir / spec.name / spec.file_name(str(month))
            here = bad[bad_months == month]
            after = np.searchsorted(rows, here["position"].to_numpy())
            text = _mix(serialise(frame.iloc[rows], spec.fmt), after, here["raw"].tolist())
            self.files.append(path, text, _header(spec.columns, spec.fmt))
            if len(here):
                file = path.relative_to(self.out_dir).as_posix()
                self.manifest.append(here.assign(source=spec.name, file=file)[list(MANIFEST_COLUMNS)])
