"""spark-submit entry point: data-quality checks, drift and realised vs predicted value; exit 2 on a breach.

spark-submit jobs/monitor.py --conf conf/local.yml --as-of 2026-01-01
"""

from clvlake.cli import job_main

if __name__ == "__main__":
    job_main("monitor")
