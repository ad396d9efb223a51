"""Headless Chromium for the report test: DOM after load, console messages and a screenshot.

Chromium is `$CLVLAKE_CHROMIUM` or `chromium` on PATH (`make install` installs Debian's package). Without it
the test is skipped, except when `CLVLAKE_REQUIRE_BROWSER=1` (CI), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
CONSOLE_LINE = re.compile(r":CONSOLE[:(].*")


@dataclass(frozen=True)
class PageLoad:
    dom: str
    console: list[str]  # every console message the page logged (errors included)


def chromium() -> str:
    found = os.environ.get("CLVLAKE_CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CLVLAKE_REQUIRE_BROWSER") == "1":
        pytest.fail(
            "chromium is not installed (run scripts/install_chromium.sh) and CLVLAKE_REQUIRE_BROWSER=1"
        )
    pytest.skip("chromium is not installed: run scripts/install_chromium.sh")


def _run(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def load(page: Path) -> PageLoad:
    done = _run("--dump-dom", page.resolve().as_uri())
    return PageLoad(done.stdout, CONSOLE_LINE.findall(done.stderr))


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 6000) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(f"--screenshot={out.resolve()}", f"--window-size={width},{height}", page.resolve().as_uri())
    return out
