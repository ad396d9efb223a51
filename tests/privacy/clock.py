"""Make a local lake look older, so a test can see what VACUUM with the default 168-hour retention does after
the retention passed, without lowering the retention.

VACUUM deletes a file when the tombstone of the commit that dropped it (`remove.deletionTimestamp` in the log) and
the file itself (its modification time) are older than the retention; both are moved back, with every commit
time, as if the lake's whole history had happened `hours` earlier.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SHIFTED = {"remove": "deletionTimestamp", "commitInfo": "timestamp"}


def _shift_commit(path: Path, millis: int) -> None:
    actions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for action in actions:
        for kind, field in SHIFTED.items():
            if kind in action and action[kind].get(field) is not None:
                action[kind][field] -= millis
    path.write_text("".join(json.dumps(a) + "\n" for a in actions))
    (path.parent / f".{path.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum of the old content


def age_lake(spark, root: str, hours: float) -> None:
    """Move every commit, tombstone and file of the Delta tables under `root` `hours` into the past."""
    millis = int(hours * 3600 * 1000)
    files = [p for p in Path(root).rglob("*") if p.is_file()]
    assert not [p for p in files if ".checkpoint." in p.name], "checkpoints hold tombstones too: not shifted"
    for path in files:
        if path.parent.name == "_delta_log" and path.suffix == ".json":
            _shift_commit(path, millis)
    for path in (p for p in Path(root).rglob("*") if p.is_file()):
        seconds = path.stat().st_mtime - millis / 1000
        os.utime(path, (seconds, seconds))
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
