"""PySpark's Python daemon with the libraries of clvlake's Python tasks imported once, before it forks workers.

Spark starts Python workers by forking them from one daemon process per executor (`pyspark.daemon`); each new
worker imported pandas, pyarrow and XGBoost (which imports scikit-learn and SciPy) for itself: about 1.7 s, paid by
every worker a task needs at once. A task predicting with three model forms holds four such workers, so the first
prediction tasks of a run spent 7–8 s importing. Forked from this daemon a worker starts with them imported.
Local sessions use it (`spark.python.daemon.module`), whose workers run the interpreter clvlake runs in.
"""

import pandas  # noqa: F401
import pyarrow  # noqa: F401
import xgboost.spark  # noqa: F401
from pyspark import daemon

if __name__ == "__main__":
    daemon.manager()
