#!/usr/bin/env bash
# Start the product: the web page when the UI is built, otherwise the CLI's help and doctor.
set -euo pipefail
cd "$(dirname "$0")/.."
TP=${VENV:-.venv}/bin/tunepilot
if "$TP" ui --help >/dev/null 2>&1; then
  exec "$TP" ui --host 127.0.0.1 --port "${PORT:-7860}"
fi
"$TP" --help
echo
"$TP" doctor
echo
echo "demo model: $("$TP" models demo)"
