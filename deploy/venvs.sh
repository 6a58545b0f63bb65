#!/usr/bin/env bash
# Creates or refreshes the project's Python virtualenvs, one per requirements
# file (their pins conflict), under $ORDERFLOW_VENV_DIR (default deploy/.venv),
# each installed from its hashed lock deploy/requirements-NAME.lock:
#
#   deploy/venvs.sh lint sam checkov lambda componentize
#
#   lint     cfn-lint, the offline SAM transform, pytest, boto3, moto[server]
#            (the Rust tests' moto_server and the local stack's Python come
#            from here too)
#   sam      the SAM CLI (`sam validate --lint`)
#   checkov  checkov
#   lambda   cargo-lambda and Zig, for the Lambda builds
#   componentize  componentize-py, for the Python rule plugin (plugins/python-threshold)
#
# Every package comes from the lock, pinned to one version and checked against
# its sha256 (`pip --require-hashes --no-deps`, wheels only), so an install is
# the same on every machine and a tampered download fails. pip is the one the
# Python ships (ensurepip, no download) and is not upgraded: the upgrade would
# be the one unchecked download, and every pip a Python >= 3.9 ships checks
# hashes. Edit requirements-NAME.txt, then regenerate its lock with
# deploy/lock-requirements.sh (the locks are for CPython 3.11 on Linux x86_64).
#
# A venv is rebuilt from scratch only when its lock or the Python version
# changed, so a repeat run is instant and needs no network, and a venv never
# keeps a package its lock dropped. Needs python3 >= 3.9 with its venv module
# (Debian: python3-venv).
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
    local lock="$DEPLOY_DIR/requirements-$name.lock"
    local venv="$VENV_DIR/$name"
    local stamp="$venv/.orderflow-stamp"
    [[ -f "$lock" ]] || die "no lock file for venv '$name' ($lock; deploy/lock-requirements.sh makes it)"
    local want
    want="$("$PYTHON" -c 'import hashlib, sys
h = hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()
print(h, sys.version.split()[0])' "$lock")"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    echo "venvs: installing $name (deploy/requirements-$name.lock) into $venv"
    rm -rf "$venv"
    quiet "venv-$name" "$PYTHON" -m venv "$venv"
    quiet "pip-$name" "$venv/bin/python" -m pip install --quiet \
        --require-hashes --no-deps --only-binary :all: -r "$lock"
    # --no-deps trusts the lock to be complete; check that it was.
    quiet "pip-check-$name" "$venv/bin/python" -m pip check
    printf '%s\n' "$want" >"$stamp"
}

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.9 or later"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || die "$PYTHON must be >= 3.9"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$PYTHON has no venv module: install it (Debian: apt-get install python3-venv)"
[[ $# -gt 0 ]] || die "usage: deploy/venvs.sh NAME... (lint sam checkov lambda componentize)"
mkdir -p "$VENV_DIR"
for name in "$@"; do
    ensure_venv "$name"
done
