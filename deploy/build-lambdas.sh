#!/usr/bin/env bash
# Builds both Lambda binaries (`bootstrap` for provided.al2023) with
# cargo-lambda, the command SAM's rust-cargolambda build method runs too.
#
#   deploy/build-lambdas.sh [arm64|x86_64]      (default arm64)
#
# Output: target/lambda/orderflow-producer/bootstrap and
#         target/lambda/orderflow-consumer/bootstrap
#
# Needs: rustup (the target is added here) and python3. cargo-lambda and
# Zig (the cross linker, from PyPI's `ziglang`) are installed into
# deploy/.venv/lambda on first use. Set PROFILE=debug for a quicker,
# unoptimised build (CI uses it to check that both binaries build).
set -euo pipefail
ARCH="${1:-arm64}"
PROFILE="${PROFILE:-release}"
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$DEPLOY_DIR/.." && pwd)"
VENV="${ORDERFLOW_VENV_DIR:-$DEPLOY_DIR/.venv}/lambda"

case "$ARCH" in
    arm64) TARGET=aarch64-unknown-linux-gnu; FLAG=--arm64 ;;
    x86_64) TARGET=x86_64-unknown-linux-gnu; FLAG=--x86-64 ;;
    *) echo "build-lambdas: architecture must be arm64 or x86_64, got '$ARCH'" >&2; exit 2 ;;
esac

"$DEPLOY_DIR/venvs.sh" lambda
# cargo-lambda finds Zig through the virtualenv's python-zig.
# shellcheck disable=SC1091
source "$VENV/bin/activate"
rustup target add "$TARGET" >/dev/null

cd "$REPO_DIR"
args=(lambda build "$FLAG" -p orderflow-producer -p orderflow-consumer)
[ "$PROFILE" = release ] && args+=(--release)
cargo "${args[@]}"
for f in producer consumer; do
    bin="target/lambda/orderflow-$f/bootstrap"
    [ -x "$bin" ] || { echo "build-lambdas: $bin was not produced" >&2; exit 1; }
    echo "built $bin ($(du -h "$bin" | cut -f1), $ARCH, $PROFILE)"
done
