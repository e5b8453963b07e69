#!/usr/bin/env bash
# Everything the tests need, into the venv given as $1, with or without root:
#   * the package with its test extras (`.[dev,ray]`; Ray's tests skip without it) and the
#     `playwright` Python package (only Playwright's driver: no browser is downloaded);
#   * Debian's chromium for the solver page's browser test:
#       - already at $TASKONOMY_CHROMIUM or /usr/bin/chromium: used as is;
#       - root, or passwordless sudo: `apt-get install chromium`;
#       - otherwise (no root): `apt-get download` chromium and the dependencies this system
#         lacks, `dpkg -x` them under VENV/chromium/root, and a launcher VENV/chromium/chromium
#         that the browser test finds by itself (tests/test_solver_page_browser.py).
#     TASKONOMY_LOCAL_CHROMIUM=1 takes the no-root way even when root is available.
#
#   bash .ci/test-deps.sh .venv && .venv/bin/python -m pytest -q
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${1:?usage: test-deps.sh VENV_DIR}"
VENV="$(cd "$VENV" 2>/dev/null && pwd)" || { echo "test-deps: no folder $1; create the venv first." >&2; exit 1; }
PLAYWRIGHT_SPEC="playwright==1.65.2"

if [ ! -x "$VENV/bin/python" ]; then
    echo "test-deps: no Python at $VENV/bin/python; create the venv first." >&2
    exit 1
fi

"$VENV/bin/python" -m pip install --quiet -e ".[dev,ray]"
# Belt and braces: the wheel never downloads browsers, and this keeps it that way.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$VENV/bin/python" -m pip install --quiet "$PLAYWRIGHT_SPEC"

LOCAL="$VENV/chromium"          # the no-root install
SYSTEM="${TASKONOMY_CHROMIUM:-/usr/bin/chromium}"

local_chromium() {
    # apt-get download needs no root; a private package list is fetched only when the
    # system's lists are missing (e.g. a slim container image).
    local debs="$LOCAL/debs" apt_opts=()
    mkdir -p "$debs" "$LOCAL/root"
    if ! apt-cache show chromium >/dev/null 2>&1; then
        mkdir -p "$LOCAL/lists/partial" "$LOCAL/cache/archives/partial"
        apt_opts=(-o "Dir::State::Lists=$LOCAL/lists" -o "Dir::Cache=$LOCAL/cache"
                  -o Debug::NoLocking=1 -o "APT::Sandbox::User=$(id -un)")
        apt-get "${apt_opts[@]}" update -q
    fi
    # chromium, chromium-common and what apt would install with them here (a simulation,
    # which needs no root, resolves alternatives and skips what is installed already)
    local pkgs=(chromium chromium-common) p
    for p in $(apt-get "${apt_opts[@]}" -o Debug::NoLocking=1 -s install \
                 --no-install-recommends chromium 2>/dev/null | awk '/^Inst /{print $2}'); do
        [[ " ${pkgs[*]} " == *" $p "* ]] || pkgs+=("$p")
    done
    (cd "$debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}")
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$LOCAL/root"; done
    local multiarch
    multiarch="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$(uname -m)-linux-gnu")"
    cat > "$LOCAL/chromium" <<LAUNCHER
#!/bin/sh
# Chromium unpacked without root by .ci/test-deps.sh; its libraries come first.
ROOT="\$(dirname "\$(readlink -f "\$0")")/root"
export LD_LIBRARY_PATH="\$ROOT/usr/lib/$multiarch:\$ROOT/lib/$multiarch:\$ROOT/usr/lib/chromium\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "\$ROOT/usr/lib/chromium/chromium" "\$@"
LAUNCHER
    chmod +x "$LOCAL/chromium"
    rm -rf "$debs" "$LOCAL/lists" "$LOCAL/cache"
}

if [ "${TASKONOMY_LOCAL_CHROMIUM:-0}" = 1 ]; then
    [ -x "$LOCAL/chromium" ] || local_chromium
    CHROMIUM="$LOCAL/chromium"
elif [ -x "$SYSTEM" ]; then
    CHROMIUM="$SYSTEM"
elif [ -x "$LOCAL/chromium" ]; then
    CHROMIUM="$LOCAL/chromium"
elif [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends chromium
    CHROMIUM=/usr/bin/chromium
else
    local_chromium
    CHROMIUM="$LOCAL/chromium"
fi

# (Debian's launcher prints a harmless shell warning about memory on some machines.)
"$CHROMIUM" --headless=new --no-sandbox --version 2>/dev/null || "$CHROMIUM" --version
"$VENV/bin/python" -c "import importlib.metadata as m; print('playwright', m.version('playwright'))"
