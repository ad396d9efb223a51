"""Tests of clvlake.reporting (lib/clvlake/reporting/)."""
