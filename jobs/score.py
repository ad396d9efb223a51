"""spark-submit entry point: score every customer into clv_scores.

spark-submit jobs/score.py --conf conf/local.yml --as-of 2026-01-01
"""

from clvlake.cli import job_main

if __name__ == "__main__":
    job_main("score")
