"""spark-submit entry point: build customer_features at the as-of date.

spark-submit jobs/features.py --conf conf/local.yml --as-of 2026-01-01
"""

from clvlake.cli import job_main

if __name__ == "__main__":
    job_main("features")
