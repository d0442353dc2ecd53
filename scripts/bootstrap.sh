#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) and node tools (tools/).
# Idempotent and cheap when nothing changed: a stamp file records the inputs' checksum.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
stamp=".venv/.opendepin-stamp"
want="$(cat pyproject.toml examples/airquality/pyproject.toml tools/package.json | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages into .venv (first run takes a minute)" >&2
  "$py" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]" -e examples/airquality 2>&1 | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -c "import opendepin, depin_airquality" >/dev/null
  echo "$want" > "$stamp"
fi
# Byte-compile the project's own modules ahead of time (only changed files are compiled): with
# PYTHONDONTWRITEBYTECODE set in the environment Python never writes .pyc files itself, and every
# `depin` command would recompile the package at start-up.
.venv/bin/python -m compileall -q src examples/airquality/src >/dev/null 2>&1 || true
# anvil for the real-node tests; ethers and @openzeppelin/merkle-tree for the test that claims
# from JavaScript with only the published artefacts (tests/chain/js/claim.cjs).
if [ "${OPENDEPIN_NEED_ANVIL:-0}" = "1" ] && { [ ! -x tools/node_modules/.bin/anvil ] \
    || [ ! -d tools/node_modules/ethers ] || [ ! -d tools/node_modules/@openzeppelin/merkle-tree ]; }; then
  echo "bootstrap: installing node tools from npm (@foundry-rs/anvil, ethers, @openzeppelin/merkle-tree)" >&2
  (cd tools && npm install --no-audit --no-fund --silent >&2)
fi
# The explorer's browser test drives Debian's headless Chromium (no browser download of its own):
# installed in CI, or when asked for; never when it is already there.
if { [ -n "${CI:-}" ] || [ "${OPENDEPIN_NEED_BROWSER:-0}" = "1" ]; } && [ ! -x /usr/bin/chromium ]; then
  echo "bootstrap: installing chromium and chromium-driver from Debian (explorer browser test)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [ "$(id -u)" = "0" ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -q >&2 || true
  $sudo apt-get install -y -q chromium chromium-driver >&2
fi
# The storage devnet's client test copies directories with rclone (Debian package rclone):
# installed in CI, or when asked for; never when it is already there (else that test skips).
if { [ -n "${CI:-}" ] || [ "${OPENDEPIN_NEED_RCLONE:-0}" = "1" ]; } && ! command -v rclone >/dev/null 2>&1; then
  echo "bootstrap: installing rclone from Debian (storage devnet client test)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [ "$(id -u)" = "0" ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -q >&2 || true
  $sudo apt-get install -y -q rclone >&2
fi
