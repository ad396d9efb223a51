#!/usr/bin/env bash
# Debian's chromium for the report's browser test (tests/test_pipeline_e2e.py). Installs it once, when it is
# missing and apt-get can be run (as root, or with password-less sudo); otherwise says how to get it.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x "${CLVLAKE_CHROMIUM:-/nonexistent}" ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "install_chromium: chromium is missing and apt-get needs root; the browser test will be skipped." >&2
  echo "install_chromium: install it with 'sudo apt-get install chromium' or set CLVLAKE_CHROMIUM." >&2
  exit 0
fi
echo "install_chromium: installing Debian's chromium (for the report's browser test)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version
