"""Maven jars for local sessions: taken from the cache folder once resolved, Spark's Ivy resolver otherwise."""

from __future__ import annotations

from clvlake import jars

THING = "org.example:thing_2.13:1.2.0"


def test_an_artifacts_jars_come_from_its_cache_folder_once_resolved(tmp_path, monkeypatch):
    monkeypatch.setenv("CLVLAKE_JAR_CACHE", str(tmp_path))
    monkeypatch.setattr(jars.shutil, "which", lambda name: None)  # no mvn: only the cache can answer
    folder = jars.jar_cache_dir(THING)
    assert folder == tmp_path / "thing_2.13-1.2.0"
    folder.mkdir()
    (folder / "thing_2.13-1.2.0.jar").write_bytes(b"")
    assert jars.cached_jars(THING) is None  # not complete until resolving finished
    (folder / ".complete").write_text(THING)
    assert jars.maven_jars(THING) == [str(folder / "thing_2.13-1.2.0.jar")]


def test_without_mvn_or_a_cache_delta_comes_from_sparks_own_resolver(tmp_path, monkeypatch):
    monkeypatch.setenv("CLVLAKE_JAR_CACHE", str(tmp_path))
    monkeypatch.setattr(jars.shutil, "which", lambda name: None)
    assert jars.delta_jar_conf() == {"spark.jars.packages": jars.DELTA_COORDINATE}
