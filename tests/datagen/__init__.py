"""Tests of clvlake.datagen (lib/clvlake/datagen/)."""
