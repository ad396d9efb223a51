"""spark-submit entry point: erase customers from every table (right to be forgotten), with an audit row.

spark-submit jobs/erase.py --conf conf/local.yml --customer-id C0000123
"""

from clvlake.cli import job_main

if __name__ == "__main__":
    job_main("erase")
