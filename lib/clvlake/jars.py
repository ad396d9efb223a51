"""Delta Lake jars for local mode: resolved once from Maven Central into a cache folder.

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
from pathlib import Path

from clvlake.errors import ClvError

log = logging.getLogger(__name__)

DELTA_VERSION = "4.0.1"  # must equal the delta-spark pin in pyproject.toml
SCALA_BINARY = "2.13"
DELTA_COORDINATE = f"io.delta:delta-spark_{SCALA_BINARY}:{DELTA_VERSION}"
# Spark ships its own Scala library; a second copy on the classpath only invites conflicts.
PROVIDED_BY_SPARK = "scala-library"
_COMPLETE_MARKER = ".complete"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>clvlake</groupId><artifactId>delta-jars</artifactId><version>1</version>
  <dependencies>
    <dependency>
      <groupId>io.delta</groupId><artifactId>delta-spark_{scala}</artifactId><version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def jar_cache_dir() -> Path:
    """Folder holding the resolved jars; `CLVLAKE_JAR_CACHE` overrides the default under ~/.cache."""
    root = os.environ.get("CLVLAKE_JAR_CACHE") or Path.home() / ".cache" / "clvlake" / "jars"
    return Path(root) / f"delta-{DELTA_VERSION}"


def cached_jars() -> list[str] | None:
    """The cached jar paths, or None when the cache is missing or incomplete."""
    folder = jar_cache_dir()
    if not (folder / _COMPLETE_MARKER).exists():
        return None
    return sorted(str(p) for p in folder.glob("*.jar"))


def resolve_with_maven(target: Path) -> list[str]:
    """Copy Delta and its runtime dependencies into `target` with `mvn` (honours ~/.m2/settings.xml)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ClvError("mvn is not on PATH")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clvlake-mvn-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_POM.format(scala=SCALA_BINARY, version=DELTA_VERSION))
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
        raise ClvError(
            f"mvn could not resolve {DELTA_COORDINATE}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    (target / _COMPLETE_MARKER).write_text(DELTA_COORDINATE + "\n")
    return sorted(str(p) for p in target.glob("*.jar"))


def delta_jar_conf() -> dict[str, str]:
    """Spark settings that put Delta on the classpath: cached jars, freshly resolved ones, or Ivy packages."""
    jars = cached_jars()
    if jars is None:
        try:
            log.info("resolving %s with mvn into %s (first run only)", DELTA_COORDINATE, jar_cache_dir())
            jars = resolve_with_maven(jar_cache_dir())
        except ClvError as err:
            log.warning("%s; falling back to Spark's Ivy resolver for %s", err, DELTA_COORDINATE)
            return {"spark.jars.packages": DELTA_COORDINATE}
    return {"spark.jars": ",".join(jars)}


def main() -> None:
    """`python -m clvlake.jars`: resolve the jars now (the install step calls this once)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    jars = cached_jars() or resolve_with_maven(jar_cache_dir())
    print(f"Delta {DELTA_VERSION} jars ready in {jar_cache_dir()}: {', '.join(Path(j).name for j in jars)}")


if __name__ == "__main__":
    main()
