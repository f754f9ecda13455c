#!/usr/bin/env bash
# Installs what Vigil's tests need beyond the Rust toolchain, idempotently and quietly.
# - prometheus (Debian package): the remote_write interop test runs a real Prometheus, and the
#   rules interop test runs its promtool (same package) against `vigil rules test`.
# - a Python venv in ~/.cache/vigil-venv (PyPI): moto[server], the S3 API server the log tests
#   run the S3 object store backend against; python-logging-loki and the OpenTelemetry SDK with
#   its OTLP/HTTP exporter, the real clients of the log interop tests (tests/interop/*.py).
set -euo pipefail

VENV="$HOME/.cache/vigil-venv"
PY_PACKAGES=(
  "moto[server]==5.2.5"
  "python-logging-loki==0.3.1"
  "opentelemetry-sdk==1.45.2"
  "opentelemetry-exporter-otlp-proto-http==1.45.2"
)
PY_IMPORTS="import moto.server, logging_loki, opentelemetry.sdk._logs, opentelemetry.exporter.otlp.proto.http._log_exporter"
# Written after a successful install; when it lists exactly these packages the pip step is skipped
# without starting Python (importing moto takes seconds).
MARKER="$VENV/.vigil-test-deps"

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
venv_ready() { [ -x "$VENV/bin/python" ] && [ "$(cat "$MARKER" 2>/dev/null)" = "${PY_PACKAGES[*]}" ]; }
if ! venv_ready && ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
  need_apt+=(python3 python3-venv)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian's package may start a system Prometheus on :9090 where an init system exists; the
# tests start their own on free loopback ports, so it does not matter either way.
prometheus --version 2>&1 | head -n 1

if ! venv_ready; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
  "$VENV/bin/python" -c "$PY_IMPORTS"
  printf '%s' "${PY_PACKAGES[*]}" >"$MARKER"
fi
echo "python test venv: $VENV (${PY_PACKAGES[*]})"
