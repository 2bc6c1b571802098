#!/usr/bin/env bash
# The GPU check, in one call on a machine with an NVIDIA GPU (CuPy, NumPy, pytest and
# hypothesis installed; PyTorch optional), from anywhere:
#
#     OUT=/some/dir bash benchmarks/gpu_check.sh
#
# Steps, most telling first, each under its own time limit and all within GPU_CHECK_SECONDS
# (470 s: the call fits in 8 minutes), each recorded and none stopping the others: the GPU
# and the CuPy/CUDA versions; the core tests (ops, autograd, the fused kernels) under
# MINISSL_BACKEND=cupy; benchmarks/run_all.py --gpu (minissl on CuPy vs PyTorch on CUDA where
# installed, and vs minissl on NumPy); three demos with --quick; the rest of the test suite
# with the time left. Logs, the demos' metrics.json and the benchmark table go to $OUT; a
# summary (gpu_check.md) is printed last.
#
# The settings below can be changed through the environment (tests/test_gpu_check.py runs
# this script under tests/fakecupy with small ones).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/runs/gpu_check}
mkdir -p "$OUT"
PY=${PYTHON:-python}
export MINISSL_BACKEND=cupy
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
BUDGET=${GPU_CHECK_SECONDS:-470}
CORE_SECONDS=${GPU_CHECK_CORE_SECONDS:-120}
BENCH_SECONDS=${GPU_CHECK_BENCH_SECONDS:-130}
DEMO_SECONDS=${GPU_CHECK_DEMO_SECONDS:-40}
read -r -a PYTEST_ARGS <<< "${GPU_CHECK_PYTEST_ARGS:--q -x -p no:cacheprovider}"
read -r -a CORE_TESTS <<< "${GPU_CHECK_CORE_TESTS:-tests/test_speedups.py tests/test_backend.py tests/test_tensor.py tests/ops tests/nn tests/test_optim.py}"
read -r -a REST_TESTS <<< "${GPU_CHECK_REST_TESTS:-tests}"
read -r -a DEMOS <<< "${GPU_CHECK_DEMOS:-gpt_sort bert_pretrain_finetune autograd_basics}"
read -r -a DEMO_FLAGS <<< "${GPU_CHECK_DEMO_FLAGS:---quick}"
read -r -a BENCH_FLAGS <<< "${GPU_CHECK_BENCH_FLAGS:---quick}"
SUMMARY=$OUT/summary.tsv
: > "$SUMMARY"

# step NAME SECONDS COMMAND...: run it with a time limit (never past the budget), log to
# $OUT/NAME.log, add a summary row
step() {
    local name=$1 limit=$2
    shift 2
    local log=$OUT/$name.log start=$SECONDS rc status left=$((BUDGET - SECONDS - 1))
    [ "$limit" -gt "$left" ] && limit=$left
    if [ "$limit" -lt 3 ]; then
        printf '%s\t%s\t0\t\n' "$name" "skipped: the ${BUDGET} s budget is spent" >> "$SUMMARY"
        return
    fi
    echo "== $name (limit ${limit} s): $*"
    timeout --kill-after=2 "$limit" "$@" > "$log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then status=ok
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then status="TIMEOUT after ${limit} s"
    else status="FAILED (exit $rc)"
    fi
    # the last line that says something: pytest's counts, a demo's verdict, a traceback's error
    local last
    last=$(grep -v '^\s*$' "$log" | tail -n 1 | tr '\t|' '  ' | cut -c1-160)
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - start))" "$last" >> "$SUMMARY"
    echo "   $status in $((SECONDS - start)) s: $last"
}

step gpu_info 60 bash -c "nvidia-smi -L || echo 'nvidia-smi: not available'; $PY benchmarks/gpu.py --info"
step tests_core "$CORE_SECONDS" "$PY" -m pytest "${PYTEST_ARGS[@]}" "${CORE_TESTS[@]}"
step benchmark "$BENCH_SECONDS" "$PY" benchmarks/run_all.py --gpu "${BENCH_FLAGS[@]}"
for demo in "${DEMOS[@]}"; do
    step "demo_$demo" "$DEMO_SECONDS" "$PY" "demos/$demo.py" "${DEMO_FLAGS[@]}" --out "$OUT/demo_$demo"
done
IGNORE=()
for t in "${CORE_TESTS[@]}"; do IGNORE+=("--ignore=$t"); done
step tests_rest "$BUDGET" "$PY" -m pytest "${PYTEST_ARGS[@]}" "${REST_TESTS[@]}" "${IGNORE[@]}"
[ -f benchmarks/RESULTS_GPU.md ] && cp benchmarks/RESULTS_GPU.md benchmarks/RESULTS_GPU.json "$OUT"/ 2>/dev/null

{
    echo "# minissl GPU check"
    echo
    grep -v '^\s*$' "$OUT/gpu_info.log" | sed 's/^/    /'
    echo
    echo "| step | status | seconds | last line of its log |"
    echo "|---|---|---|---|"
    while IFS=$'\t' read -r name status secs last; do
        echo "| $name | $status | $secs | $last |"
    done < "$SUMMARY"
    echo
    # the benchmark table: gpu.py prints it last, after its progress lines
    if grep -q '^| workload' "$OUT/benchmark.log" 2>/dev/null; then
        sed -n '/CuPy .*(CUDA runtime/,$p' "$OUT/benchmark.log"
    else
        echo "(no benchmark table: see benchmark.log)"
    fi
} > "$OUT/gpu_check.md"
cat "$OUT/gpu_check.md"
