"""spark-submit entry point: land raw source files into silver Delta tables (+ quarantine).

spark-submit jobs/ingest.py --conf conf/local.yml --as-of 2026-01-01
"""

from clvlake.cli import job_main

if __name__ == "__main__":
    job_main("ingest")
