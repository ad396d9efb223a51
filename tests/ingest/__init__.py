"""Tests of clvlake.ingest (lib/clvlake/ingest/)."""
