#!/usr/bin/env bash
# Validate template.yaml offline (network only for PyPI, on first run or when a
# requirements file changes):
#   1. cfn-lint template.yaml
#   2. sam validate --lint --template template.yaml
#   3. checkov -f template.yaml --framework cloudformation  (no failed checks;
#      every skip is declared, with its reason, in the template's Metadata)
#   4. pytest deploy/test_template_policies.py deploy/test_resource_policies.py deploy/test_intrinsics.py
#      deploy/test_http_api.py (every route authenticated, in each ApiAuth setting)
#      deploy/test_audit_trail.py (plugins/ writes recorded, manifest writes an event)
#      (offline SAM transform + exact
#      least-privilege IAM table and pipeline wiring)
#   5. pytest deploy/test_local_stack.py  (deploy/local_stack.py creates the
#      stack from the transformed template on a throwaway moto_server on
#      127.0.0.1, fills what moto's CloudFormation skips, and the live
#      resources are compared with the template + SNS->SQS->DLQ smoke tests)
#
# The tools live in three venvs because their pins conflict:
#   $ORDERFLOW_VENV_DIR/{lint,sam,checkov}   (default: deploy/.venv/)
# deploy/venvs.sh creates them (only when a requirements file or the Python
# version changed, so repeated runs are fast and do not touch the network).
#
# Quiet on success: one line per step. On failure the failing step's full
# output is printed and the script exits non-zero.
#
# Env: PYTHON (default python3, >= 3.9), ORDERFLOW_VENV_DIR, TEMPLATE (default
# template.yaml at the repo root).
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$DEPLOY_DIR/.." && pwd)"
VENV_DIR="${ORDERFLOW_VENV_DIR:-$DEPLOY_DIR/.venv}"
PYTHON="${PYTHON:-python3}"
TEMPLATE="${TEMPLATE:-$REPO_DIR/template.yaml}"

# Offline, deterministic tool behaviour.
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONDONTWRITEBYTECODE=1

LOG_DIR="$(mktemp -d)"
trap 'rm -rf "$LOG_DIR"' EXIT

die() {
    echo "validate-template: $*" >&2
    exit 1
}

# run NAME CMD... : run quietly; on failure show the output and stop.
run() {
    local name="$1"
    shift
    local log="$LOG_DIR/$name.log"
    if ! "$@" >"$log" 2>&1; then
        echo "validate-template: $name FAILED:" >&2
        cat "$log" >&2
        exit 1
    fi
}

[[ -f "$TEMPLATE" ]] || die "no template at $TEMPLATE"
"$DEPLOY_DIR/venvs.sh" lint sam checkov

cd "$REPO_DIR"

run locks "$VENV_DIR/lint/bin/python" -m pytest -q -p no:cacheprovider "$DEPLOY_DIR/test_requirements_locked.py"
echo "requirement locks: $(tail -n 1 "$LOG_DIR/locks.log")"

run cfn-lint "$VENV_DIR/lint/bin/cfn-lint" "$TEMPLATE"
echo "cfn-lint: ok"

run sam-validate "$VENV_DIR/sam/bin/sam" validate --lint --template "$TEMPLATE"
echo "sam validate --lint: ok"

run checkov "$VENV_DIR/checkov/bin/checkov" -f "$TEMPLATE" --framework cloudformation \
    --skip-download --compact --quiet --output cli  # --skip-download: no vendor API calls
# checkov exits 1 on any failed check; also refuse an empty scan.
counts="$(sed -n 's/^Passed checks: \([0-9]*\), Failed checks: \([0-9]*\), Skipped checks: \([0-9]*\).*/\1 passed, \2 failed, \3 skipped/p' "$LOG_DIR/checkov.log")"
if [[ -z "$counts" || "$counts" == 0\ passed* || "$counts" != *" 0 failed"* ]]; then
    echo "validate-template: checkov did not report a clean scan:" >&2
    cat "$LOG_DIR/checkov.log" >&2
    exit 1
fi
echo "checkov: $counts"

run pytest env ORDERFLOW_TEMPLATE="$TEMPLATE" "$VENV_DIR/lint/bin/python" -m pytest -q -p no:cacheprovider \
    "$DEPLOY_DIR/test_template_policies.py" "$DEPLOY_DIR/test_resource_policies.py" "$DEPLOY_DIR/test_intrinsics.py" \
    "$DEPLOY_DIR/test_http_api.py" "$DEPLOY_DIR/test_audit_trail.py"
echo "template policies, resource policies, intrinsics, HTTP API, audit trail: $(tail -n 1 "$LOG_DIR/pytest.log")"

# moto_server comes from the lint venv (moto[server] in requirements-lint.txt);
# the test starts and stops its own server on a free 127.0.0.1 port.
run pytest-local-stack env ORDERFLOW_TEMPLATE="$TEMPLATE" PATH="$VENV_DIR/lint/bin:$PATH" \
    "$VENV_DIR/lint/bin/python" -m pytest -q -p no:cacheprovider "$DEPLOY_DIR/test_local_stack.py"
echo "local stack on moto: $(tail -n 1 "$LOG_DIR/pytest-local-stack.log")"
