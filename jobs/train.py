"""spark-submit entry point: train, evaluate and register the CLV model.

spark-submit jobs/train.py --conf conf/local.yml --as-of 2026-01-01
"""

from clvlake.cli import job_main

if __name__ == "__main__":
    job_main("train")
