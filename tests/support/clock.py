"""Make a local lake look older, so a test can see what VACUUM with the default 168-hour retention, and Delta's
log cleanup, do after the retention passed, without lowering the retention.

VACUUM deletes a file when the tombstone of the commit that dropped it (`remove.deletionTimestamp` in the log) and
the file itself (its modification time) are older than the retention; Delta drops a log entry when its file is
older than the log retention. Commits, tombstones and files are all moved back, as if the lake's whole history
had happened `hours` earlier. A checkpoint holds tombstones too: it is written again from the moved commits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from clvlake.session import java_class

SHIFTED = {"remove": "deletionTimestamp", "commitInfo": "timestamp"}


def _shift_commit(path: Path, millis: int) -> None:
    actions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for action in actions:
        for kind, field in SHIFTED.items():
            if kind in action and action[kind].get(field) is not None:
                action[kind][field] -= millis
    path.write_text("".join(json.dumps(a) + "\n" for a in actions))
    (path.parent / f".{path.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum of the old content


def _drop_checkpoints(log: Path) -> list[int]:
    """Remove a log's checkpoints (and the pointer to the last one); returns their versions."""
    files = [*log.glob("*.checkpoint*.parquet"), log / "_last_checkpoint"]
    for path in files:
        path.unlink(missing_ok=True)
        (path.parent / f".{path.name}.crc").unlink(missing_ok=True)
    return sorted({int(p.name.split(".")[0]) for p in files if ".checkpoint" in p.name})


def age_lake(spark, root: str, hours: float) -> None:
    """Move every commit, tombstone, checkpoint and file of the Delta tables under `root` `hours` into the past."""
    millis = int(hours * 3600 * 1000)
    delta_log = java_class(spark, "org.apache.spark.sql.delta.DeltaLog")
    logs = {p.parent for p in Path(root).rglob("_delta_log/*.json")}
    checkpoints = {log: _drop_checkpoints(log) for log in logs}
    for log in logs:
        for path in log.glob("*.json"):
            _shift_commit(path, millis)
    delta_log.clearCache()
    for log, versions in checkpoints.items():
        for version in versions:
            delta_log.forTable(spark._jsparkSession, str(log.parent)).createCheckpointAtVersion(version)
    for path in (p for p in Path(root).rglob("*") if p.is_file()):
        seconds = path.stat().st_mtime - millis / 1000
        os.utime(path, (seconds, seconds))
    delta_log.clearCache()
