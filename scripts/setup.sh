#!/usr/bin/env bash
# Creates .venv/ in the repository root and installs the project into it; a second run does nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.installed-$(sha1sum "$root/pyproject.toml" | cut -c1-12)"
if [ -f "$stamp" ]; then
    exit 0
fi
echo "setting up $venv (pip install -e .; a few minutes the first time, log in $venv/setup.log)"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! { "$venv/bin/python" -m pip install --quiet --upgrade pip &&
       "$venv/bin/python" -m pip install --quiet -e "$root[test]"; } > "$venv/setup.log" 2>&1; then
    tail -n 20 "$venv/setup.log" >&2
    echo "setup failed: see $venv/setup.log" >&2
    exit 1
fi
rm -f "$venv"/.installed-*
touch "$stamp"
