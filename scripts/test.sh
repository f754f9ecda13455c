#!/usr/bin/env bash
# The test command: installs test dependencies, builds the binary, runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
scripts/install-test-deps.sh >/dev/null
cargo build --locked -p vigil
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --test-threads 4 "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
