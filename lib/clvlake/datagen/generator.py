"""``generate``: simulate customers chunk by chunk and stream their landing files and the oracle to disk.

Customers are simulated in blocks of ``BLOCK_SIZE`` (``simulate.py``), formatted to the landing contract
(``formats.py``), optionally mixed with bad rows (``errors.py``) and appended to ``<file>.tmp`` files that are
published with ``os.replace`` at the end (``files.py``). The output depends only on (seed, customers, start, end,
error_rate), not on ``chunk_size``, and memory only on ``chunk_size``. See docs/data_generator.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from clvlake.datagen.errors import ErrorInjector
from clvlake.datagen.files import AtomicFiles, LandingFiles, clear_tmp
from clvlake.datagen.formats import SOURCES, Counters, format_chunk, format_truth
from clvlake.datagen.oracle import expected_value
from clvlake.datagen.process import BLOCK_SIZE, ORACLE_HORIZON_DAYS, SIGNUP_TAIL_DAYS, Window
from clvlake.datagen.simulate import simulate_chunk
from clvlake.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratorSummary:
    """What one ``generate`` run produced. ``rows`` counts clean rows per source (injected ones excluded)."""

    customers: int
    rows: dict[str, int]
    files_written: int
    seconds: float
    injected_errors: int = 0

    def __str__(self) -> str:
        rows = ", ".join(f"{name}={count}" for name, count in self.rows.items())
        return (
            f"generated {self.customers} customers in {self.seconds:.1f}s: {rows}; "
            f"{self.injected_errors} injected errors; {self.files_written} files"
        )


def _validate(customers: int, start: date, end: date, chunk_size: int, error_rate: float) -> None:
    if customers < 1:
        raise InputError(f"customers must be >= 1, got {customers}")
    if (end - start).days < 2 * SIGNUP_TAIL_DAYS:
        raise InputError(f"end ({end}) must be at least {2 * SIGNUP_TAIL_DAYS} days after start ({start})")
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
    if not 0.0 <= error_rate < 0.5:
        raise InputError(f"error_rate must be in [0, 0.5), got {error_rate}")


def _chunks(customers: int, chunk_size: int) -> list[range]:
    """Block indices per chunk; a chunk holds max(1, chunk_size // BLOCK_SIZE) whole blocks."""
    blocks = -(-customers // BLOCK_SIZE)
    per_chunk = max(1, chunk_size // BLOCK_SIZE)
    return [range(b, min(b + per_chunk, blocks)) for b in range(0, blocks, per_chunk)]


def _remove_stale(out_dir: Path, oracle_dir: Path, written: set[Path]) -> None:
    """Drop landing/oracle files of earlier runs that this run did not rewrite."""
    candidates = [
        path for spec in SOURCES.values() for path in (out_dir / spec.name).glob(f"{spec.name}_*.{spec.fmt}")
    ]
    candidates += [*oracle_dir.glob("oracle_value_*.csv"), oracle_dir / "injected_errors.csv"]
    for path in candidates:
        if path.exists() and path not in written:
            path.unlink()


def generate(
    out_dir: str | Path,
    oracle_dir: str | Path,
    customers: int = 10_000,
    seed: int = 42,
    start: date = date(2023, 1, 1),
    end: date = date(2025, 12, 31),
    chunk_size: int = 50_000,
    error_rate: float = 0.0,
) -> GeneratorSummary:
    """Simulate ``customers`` customers over [start, end] and write landing files plus the oracle truth."""
    _validate(customers, start, end, chunk_size, error_rate)
    began = time.perf_counter()
    out_dir, oracle_dir, window = Path(out_dir), Path(oracle_dir), Window(start, end)
    clear_tmp([out_dir / name for name in SOURCES] + [oracle_dir])
    files, counters, errors = AtomicFiles(), Counters(), ErrorInjector(seed, error_rate)
    landing = LandingFiles(out_dir, files)
    rows = dict.fromkeys(SOURCES, 0)
    oracle_as_of = end + timedelta(days=1)
    chunks = _chunks(customers, chunk_size)
    for index, blocks in enumerate(chunks):
        simulated = simulate_chunk(seed, blocks, customers, window)
        for spec, frame, months in format_chunk(simulated, window, customers, counters):
            landing.write(spec, frame, months, errors.bad_rows(spec, frame, index))
            rows[spec.name] += len(frame)
        truth = format_truth(simulated["customers"], window, customers)
        files.append_csv(oracle_dir / "customer_truth.csv", truth)
        value = expected_value(truth, oracle_as_of, ORACLE_HORIZON_DAYS)
        files.append_csv(oracle_dir / f"oracle_value_{ORACLE_HORIZON_DAYS}d_{oracle_as_of}.csv", value)
        last = min((blocks[-1] + 1) * BLOCK_SIZE, customers)
        counts = ", ".join(f"{name}={count}" for name, count in rows.items())
        log.info("chunk %d/%d: customers up to %d, %s, %.1fs", index + 1, len(chunks), last, counts,
                 time.perf_counter() - began)  # fmt: skip
    if landing.manifest:
        files.append_csv(oracle_dir / "injected_errors.csv", pd.concat(landing.manifest, ignore_index=True))
    written = files.publish()
    _remove_stale(out_dir, oracle_dir, written)
    summary = GeneratorSummary(customers, rows, len(written), time.perf_counter() - began, errors.injected)
    log.info("%s", summary)
    return summary
