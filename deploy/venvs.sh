#!/usr/bin/env bash
# Creates or refreshes the project's Python virtualenvs, one per requirements
# file (their pins conflict), under $ORDERFLOW_VENV_DIR (default deploy/.venv):
#
#   deploy/venvs.sh lint sam checkov lambda
#
#   lint     cfn-lint, the offline SAM transform, pytest, boto3, moto[server]
#            (the Rust tests' moto_server and the local stack's Python come
#            from here too)
#   sam      the SAM CLI (`sam validate --lint`)
#   checkov  checkov
#   lambda   cargo-lambda and Zig, for the Lambda builds
#
# A venv is (re)installed only when its requirements file or the Python
# version changed, so a repeat run is instant and needs no network. Needs
# python3 >= 3.9 with its venv module (Debian: python3-venv).
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV_DIR="${ORDERFLOW_VENV_DIR:-$DEPLOY_DIR/.venv}"
PYTHON="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

die() {
    echo "venvs: $*" >&2
    exit 1
}

# quiet NAME CMD... : run quietly; on failure show the output and stop.
quiet() {
    local name="$1" log
    shift
    log="$(mktemp)"
    if ! "$@" >"$log" 2>&1; then
        echo "venvs: $name FAILED:" >&2
        cat "$log" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
}

ensure_venv() {
    local name="$1"
    local req="$DEPLOY_DIR/requirements-$name.txt"
    local venv="$VENV_DIR/$name"
    local stamp="$venv/.orderflow-stamp"
    [[ -f "$req" ]] || die "no requirements file for venv '$name' ($req)"
    local want
    want="$("$PYTHON" -c 'import hashlib, sys
h = hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()
print(h, sys.version.split()[0])' "$req")"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    echo "venvs: installing $name (deploy/requirements-$name.txt) into $venv"
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c '' 2>/dev/null; then
        rm -rf "$venv"
        quiet "venv-$name" "$PYTHON" -m venv "$venv"
    fi
    quiet "pip-$name" "$venv/bin/python" -m pip install --quiet --upgrade pip
    quiet "pip-$name" "$venv/bin/python" -m pip install --quiet -r "$req"
    printf '%s\n' "$want" >"$stamp"
}

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.9 or later"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || die "$PYTHON must be >= 3.9"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$PYTHON has no venv module: install it (Debian: apt-get install python3-venv)"
[[ $# -gt 0 ]] || die "usage: deploy/venvs.sh NAME... (lint sam checkov lambda)"
mkdir -p "$VENV_DIR"
for name in "$@"; do
    ensure_venv "$name"
done
