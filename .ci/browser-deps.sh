#!/usr/bin/env bash
# What tests/test_solver_page_browser.py needs: Debian's chromium and the `playwright`
# Python package in the venv given as $1. The pip package carries only Playwright's driver;
# no browser is downloaded (the test launches /usr/bin/chromium). Quick when already there.
#
#   bash .ci/browser-deps.sh .venv
set -euo pipefail

VENV="${1:?usage: browser-deps.sh VENV_DIR}"
PLAYWRIGHT_SPEC="playwright==1.65.2"
CHROMIUM="${TASKONOMY_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "browser-deps: no Python at $VENV/bin/python; create the venv first." >&2
    exit 1
fi

if [ ! -x "$CHROMIUM" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO="sudo"
        else
            echo "browser-deps: $CHROMIUM is missing and installing it needs root (apt-get)." >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends chromium
fi

if ! "$VENV/bin/python" -c "import playwright.sync_api" >/dev/null 2>&1; then
    # Belt and braces: the wheel never downloads browsers, and this keeps it that way.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$VENV/bin/python" -m pip install --quiet "$PLAYWRIGHT_SPEC"
fi

# (Debian's launcher prints a harmless shell warning about memory on some machines.)
"$CHROMIUM" --version 2>/dev/null
"$VENV/bin/python" -c "import importlib.metadata as m; print('playwright', m.version('playwright'))"
