"""Tests of clvlake.features (lib/clvlake/features/)."""
