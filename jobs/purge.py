"""spark-submit entry point: vacuum the tables of erasures whose retention has passed (a no-op when none is due).

spark-submit jobs/purge.py --conf conf/local.yml --as-of 2026-01-01
"""

from clvlake.cli import job_main

if __name__ == "__main__":
    job_main("purge")
