"""Synthetic CLV landing data from a known latent process, and the oracle giving its true expected value."""

from __future__ import annotations

from clvlake.datagen.generator import GeneratorSummary, generate
from clvlake.datagen.oracle import expected_value

__all__ = ["GeneratorSummary", "expected_value", "generate"]
