"""Tests of clvlake.modeling (lib/clvlake/modeling/)."""
