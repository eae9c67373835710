#!/usr/bin/env bash
# One prepared benchmark session for a lent GPU machine (an H200): installs nothing, runs every
# benchmark's GPU mode with per-benchmark timeouts, and stays under 8 minutes in all.
#
#   bash benchmarks/gpu.sh                  # full sizes, --device cuda
#   bash benchmarks/gpu.sh --quick          # extra arguments go to `python -m benchmarks`
#   OUT=/some/dir PER_BENCH_S=90 bash benchmarks/gpu.sh --only bench_extract
#
# Writes under "$OUT" (default ./bench_out): nvidia-smi.txt, gpu_util.csv (1 s samples while the
# benchmarks run), <bench>.json and <bench>.log, results.json, report.md, and
# finetune_minilm.json (the fine-tuning baseline alone, off by default: bench_training_cost times it
# against STC on the same split; FINETUNE_S=60 turns it on).
#
# Notes per benchmark:
#   bench_fit_stage  the fit stage of `stc-gpu run` against its extraction (demo 3,000 RT snippets;
#                    20 Newsgroups 5,000 posts; a random GPT-2-small row on CUDA only), the same
#                    targets as on CPU: (probes + aggregation) / extraction <= 0.5 demo, <= 1.0
#                    20NG. 20 Newsgroups is not in the package: it reads $STC_BENCH_NEWSGROUPS,
#                    else ../shared/data/20newsgroups.csv.gz, and skips the row (with a note) when
#                    neither exists, e.g. STC_BENCH_NEWSGROUPS=$PWD/20newsgroups.csv.gz.
#   bench_probe      full sizes time the scikit-learn references on the CPU, one fit at a time
#                    (minutes): give it a larger PER_BENCH_S, or pass --quick.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-./bench_out}"
DEVICE="${DEVICE:-cuda}"
PER_BENCH_S="${PER_BENCH_S:-120}"   # at most this long for any one benchmark
BUDGET_S="${BUDGET_S:-450}"         # all benchmarks together
FINETUNE_S="${FINETUNE_S:-0}"       # the fine-tuning baseline alone after them (0: skip)
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
mkdir -p "$OUT"

echo "== $(date -u +%FT%TZ) stc-gpu benchmarks on $(hostname), device $DEVICE, out $OUT"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi | tee "$OUT/nvidia-smi.txt"
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 \
        > "$OUT/gpu_util.csv" 2>/dev/null &
    monitor=$!
else
    echo "nvidia-smi not found" | tee "$OUT/nvidia-smi.txt"
    monitor=""
fi
"$PYTHON" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__,
"cuda", torch.version.cuda, "available", torch.cuda.is_available())'

timeout --kill-after=10 $((BUDGET_S + 30)) "$PYTHON" -m benchmarks --device "$DEVICE" \
    --out "$OUT" --timeout "$PER_BENCH_S" --budget "$BUDGET_S" "$@"
status=$?

if [ "$FINETUNE_S" -gt 0 ]; then
    echo "== fine-tuning baseline (all-MiniLM-L6-v2, 2,000 RT snippets, one epoch)"
    timeout --kill-after=10 "$FINETUNE_S" "$PYTHON" -m benchmarks.finetune --device "$DEVICE" \
        --n-train 2000 --n-test 1000 --json "$OUT/finetune_minilm.json" \
        > "$OUT/finetune_minilm.log" 2>&1 || { echo "fine-tuning baseline failed:"; tail -5 "$OUT/finetune_minilm.log"; status=1; }
    cat "$OUT/finetune_minilm.json" 2>/dev/null
fi

[ -n "$monitor" ] && kill "$monitor" 2>/dev/null
echo "== $(date -u +%FT%TZ) done (status $status); report: $OUT/report.md"
exit "$status"
