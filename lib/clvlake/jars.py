"""Maven jars for local mode (Delta Lake's, matching the installed delta-spark): resolved once from Maven
Central into a cache folder.

Spark's own `--packages` resolver (Ivy) does not read `~/.m2/settings.xml`, so on machines that reach Maven
Central only through a mirror it fails. `mvn` does read those settings, so we resolve with `mvn` when it is
available and fall back to Ivy (`spark.jars.packages`) otherwise.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

from clvlake.errors import ClvError

log = logging.getLogger(__name__)

DELTA_VERSION = version("delta-spark")  # the jar of the installed Python package, pinned in pyproject.toml
SCALA_BINARY = "2.13"
DELTA_COORDINATE = f"io.delta:delta-spark_{SCALA_BINARY}:{DELTA_VERSION}"
# Spark ships its own Scala library; a second copy on the classpath only invites conflicts.
PROVIDED_BY_SPARK = "scala-library"
_COMPLETE_MARKER = ".complete"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>clvlake</groupId><artifactId>jars</artifactId><version>1</version>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def jar_cache_dir(coordinate: str = DELTA_COORDINATE) -> Path:
    """Folder holding an artifact's resolved jars (`group:artifact:version`; Delta's by default);
    `CLVLAKE_JAR_CACHE` overrides the default root under ~/.cache."""
    root = os.environ.get("CLVLAKE_JAR_CACHE") or Path.home() / ".cache" / "clvlake" / "jars"
    _, artifact, release = coordinate.split(":")
    return Path(root) / f"{artifact}-{release}"


def cached_jars(coordinate: str = DELTA_COORDINATE) -> list[str] | None:
    """The cached jar paths of an artifact, or None when the cache is missing or incomplete."""
    folder = jar_cache_dir(coordinate)
    if not (folder / _COMPLETE_MARKER).exists():
        return None
    return sorted(str(p) for p in folder.glob("*.jar"))


def resolve_with_maven(coordinate: str, target: Path) -> list[str]:
    """Copy an artifact and its runtime dependencies into `target` with `mvn` (honours ~/.m2/settings.xml)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ClvError("mvn is not on PATH")
    group, artifact, release = coordinate.split(":")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clvlake-mvn-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_POM.format(group=group, artifact=artifact, version=release))
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={target}",
            "-DincludeScope=runtime",
            f"-DexcludeArtifactIds={PROVIDED_BY_SPARK}",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ClvError(f"mvn could not resolve {coordinate}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    (target / _COMPLETE_MARKER).write_text(coordinate + "\n")
    return sorted(str(p) for p in target.glob("*.jar"))


def maven_jars(coordinate: str) -> list[str]:
    """An artifact's jars with their runtime dependencies: from the cache, or resolved into it once."""
    jars = cached_jars(coordinate)
    if jars is None:
        log.info("resolving %s with mvn into %s (first run only)", coordinate, jar_cache_dir(coordinate))
        jars = resolve_with_maven(coordinate, jar_cache_dir(coordinate))
    return jars


def delta_jar_conf() -> dict[str, str]:
    """Spark settings that put Delta on the classpath: cached jars, freshly resolved ones, or Ivy packages."""
    try:
        return {"spark.jars": ",".join(maven_jars(DELTA_COORDINATE))}
    except ClvError as err:
        log.warning("%s; falling back to Spark's Ivy resolver for %s", err, DELTA_COORDINATE)
        return {"spark.jars.packages": DELTA_COORDINATE}


def main() -> None:
    """`python -m clvlake.jars`: resolve the jars now (the install step calls this once)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    jars = maven_jars(DELTA_COORDINATE)
    print(f"Delta {DELTA_VERSION} jars ready in {jar_cache_dir()}: {', '.join(Path(j).name for j in jars)}")


if __name__ == "__main__":
    main()
