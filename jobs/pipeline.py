"""spark-submit entry point: run ingest, features, train, score and report in order.

spark-submit jobs/pipeline.py --conf conf/local.yml --as-of 2026-01-01
"""

from clvlake.cli import job_main

if __name__ == "__main__":
    job_main("pipeline")
