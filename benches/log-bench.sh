#!/usr/bin/env bash
# Runs the log benchmark (`vigil-log-bench`) the way benches/RESULTS.md records it: installs
# ripgrep (the reference) when missing, builds the release binaries, and runs the bench.
# Extra arguments go to vigil-log-bench (e.g. --runs 7, --work-dir /mnt/big).
# Needs about 2 × the corpus size free under --work-dir (default /tmp); everything it writes
# there is deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v rg >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends ripgrep >/dev/null
fi
cargo build --release -p vigil -p vigil-benches --bins
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/vigil-log-bench" "$@"
