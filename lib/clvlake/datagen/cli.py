"""Command line for the data generator: ``python scripts/generate_data.py`` or ``clv generate``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import date

from clvlake.datagen.generator import generate
from clvlake.errors import ClvError


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from exc


def build_arg_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Add the generator's flags to ``parser`` (a new one if None), e.g. a ``clv generate`` subparser."""
    parser = parser or argparse.ArgumentParser(description="Generate synthetic landing files and the oracle.")
    add = parser.add_argument
    add("--customers", type=int, default=10_000, help="number of customers (default: %(default)s)")
    add("--seed", type=int, default=42, help="random seed; same seed, same bytes (default: %(default)s)")
    add("--out", default="data/landing", help="landing root folder (default: %(default)s)")
    add("--oracle-dir", default="data/oracle", help="oracle output folder (default: %(default)s)")
    add(
        "--start",
        type=_iso_date,
        default=date(2023, 1, 1),
        help="first day, YYYY-MM-DD (default: %(default)s)",
    )
    add(
        "--end",
        type=_iso_date,
        default=date(2025, 12, 31),
        help="last day, YYYY-MM-DD (default: %(default)s)",
    )
    add(
        "--chunk-size",
        type=int,
        default=50_000,
        help="customers per chunk; bounds memory (default: %(default)s)",
    )
    add(
        "--error-rate", type=float, default=0.0, help="share of extra bad rows per source (default: 0, clean)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the generator; print the summary. Exit code 0, or 2 on a usage/input problem."""
    args = build_arg_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    try:
        summary = generate(
            args.out, args.oracle_dir, customers=args.customers, seed=args.seed, start=args.start,
            end=args.end, chunk_size=args.chunk_size, error_rate=args.error_rate,
        )  # fmt: skip
    except ClvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0
