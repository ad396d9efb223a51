"""spark-submit entry point: segment tables, campaign export and the HTML report of a score date.

spark-submit jobs/report.py --conf conf/local.yml --as-of 2026-01-01
"""

from clvlake.cli import job_main

if __name__ == "__main__":
    job_main("report")
