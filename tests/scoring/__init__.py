"""Tests of clvlake.scoring (lib/clvlake/scoring/)."""
