#!/usr/bin/env bash
# Installs what Vigil's tests need beyond the Rust toolchain, idempotently.
# - prometheus (Debian package): the remote_write interop test runs a real Prometheus, and the
#   rules interop test runs its promtool (same package) against `vigil rules test`.
set -euo pipefail

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian's package may start a system Prometheus on :9090 where an init system exists; the
# tests start their own on free loopback ports, so it does not matter either way.
prometheus --version 2>&1 | head -n 1
