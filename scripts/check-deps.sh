#!/usr/bin/env bash
# Fails when a crate depends on a storage engine it must not know about
# (ARCHITECTURE.md: engines, ingest, API, rules and the demo see only vigil-storage traits;
# only vigil-server names the storage engines vigil-tsdb and vigil-logstore).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for crate in vigil-model vigil-storage vigil-wal vigil-objstore vigil-ingest vigil-promql vigil-logql vigil-rules vigil-slo vigil-api vigil-demo; do
  for forbidden in vigil-tsdb vigil-logstore vigil-server; do
    if cargo tree -p "$crate" -e normal --prefix none 2>/dev/null | grep -q "^$forbidden "; then
      echo "dependency guard: $crate must not depend on $forbidden" >&2
      status=1
    fi
  done
done
# SLO generation is pure spec → rules: it must not know the API either.
if cargo tree -p vigil-slo -e normal --prefix none 2>/dev/null | grep -q "^vigil-api "; then
  echo "dependency guard: vigil-slo must not depend on vigil-api" >&2
  status=1
fi
for leaf in vigil-model; do
  if cargo tree -p "$leaf" -e normal --prefix none | grep -v "^$leaf " | grep -q "^vigil-"; then
    echo "dependency guard: $leaf must not depend on other vigil crates" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "dependency guard: ok"
exit $status
