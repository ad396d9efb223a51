"""clvlake: customer lifetime value as a suite of Spark jobs on a Delta Lake."""

__version__ = "0.1.0"
