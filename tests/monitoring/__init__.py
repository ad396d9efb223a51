"""Tests of clvlake.monitoring (lib/clvlake/monitoring/)."""
