"""spark-submit entry point: backtest every model form and baseline on a customer split.

spark-submit jobs/backtest.py --conf conf/local.yml --calibration-end 2025-01-01 --holdout-end 2026-01-01
"""

from clvlake.cli import job_main

if __name__ == "__main__":
    job_main("backtest")
