"""PySpark's Python daemon with the libraries of clvlake's Python tasks imported once, before it forks workers.

Spark starts Python workers by forking them from one daemon process per executor (`pyspark.daemon`); each new
worker imported pandas, pyarrow and XGBoost (which imports scikit-learn and SciPy) for itself: about 1.7 s, paid by
every worker a task needs at once. A task predicting with three model forms holds a worker per model, so the first
prediction tasks of a run spent 7–8 s importing. Forked from this daemon a worker starts with them imported.
Local sessions use it (`spark.python.daemon.module`), whose workers run the interpreter clvlake runs in; a library
that interpreter lacks (e.g. a benchmark's venv without XGBoost) is simply not imported ahead.
"""

import contextlib
import importlib

from pyspark import daemon

PRELOADED = ("pandas", "pyarrow", "xgboost.spark")

for module in PRELOADED:
    with contextlib.suppress(ImportError):
        importlib.import_module(module)

if __name__ == "__main__":
    daemon.manager()
