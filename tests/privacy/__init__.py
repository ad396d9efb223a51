"""Tests of clvlake.privacy (lib/clvlake/privacy/)."""
