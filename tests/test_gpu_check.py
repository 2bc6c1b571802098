"""benchmarks/gpu_check.sh and benchmarks/gpu.py, checked without a GPU.

The script's own logic (time limits, the budget, a failing step that does not
stop the others, the summary printed last) runs against a stand-in Python that
answers each step at once; the whole path (the real steps, minissl on
tests/fakecupy, the benchmark's table) runs in the slow test. Neither proves
anything about a GPU: that is what the script is for.
"""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
needs_bash = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="the script needs bash and coreutils' timeout")

# A stand-in for `python`: says what each step would, fails a demo called "broken", and
# hangs in the last test step so that the budget has to stop it.
STAND_IN = """#!/usr/bin/env bash
case "$*" in
  *gpu.py\\ --info*) echo "Stand-in GPU, 80 GiB; CuPy 13; CUDA runtime 12000" ;;
  *--ignore=*) sleep 30 ;;
  *-m\\ pytest*) echo "7 passed in 1.00s" ;;
  *run_all.py*) echo "Stand-in GPU; CuPy 13 (CUDA runtime 12000); torch: torch not installed."; echo;
                echo "| workload | minissl CuPy ms |"; echo "| GPT | 1.0 |" ;;
  *broken.py*) echo "Traceback: ValueError: broken on purpose" >&2; exit 3 ;;
  *) echo "demo verdict: holds" ;;
esac
"""


def _run_script(tmp_path, env_extra, timeout):
    env = {**os.environ, "OUT": str(tmp_path / "out"), **env_extra}
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=timeout)


def _summary(out_dir):
    rows = [line.split("\t") for line in (out_dir / "summary.tsv").read_text().splitlines()]
    return {r[0]: r[1] for r in rows}


@needs_bash
def test_every_step_is_recorded_and_a_failure_or_a_hang_stops_nothing(tmp_path):
    py = tmp_path / "python"
    py.write_text(STAND_IN)
    py.chmod(0o755)
    r = _run_script(tmp_path, {"PYTHON": str(py), "GPU_CHECK_DEMOS": "gpt_sort broken", "GPU_CHECK_SECONDS": "6"},
                    timeout=60)
    assert r.returncode == 0, r.stderr
    status = _summary(tmp_path / "out")
    assert list(status) == ["gpu_info", "tests_core", "benchmark", "demo_gpt_sort", "demo_broken", "tests_rest"]
    assert status["tests_core"] == status["benchmark"] == status["demo_gpt_sort"] == "ok"
    assert status["demo_broken"] == "FAILED (exit 3)"
    assert status["tests_rest"].startswith("TIMEOUT")  # stopped by the 6 s budget, not by its own limit
    report = (tmp_path / "out" / "gpu_check.md").read_text()
    assert r.stdout.rstrip().endswith(report.rstrip())  # the summary is printed last
    assert "| demo_broken | FAILED (exit 3) |" in report and "broken on purpose" in report
    assert "Stand-in GPU, 80 GiB" in report and "| GPT | 1.0 |" in report


@needs_bash
def test_a_spent_budget_skips_the_remaining_steps(tmp_path):
    py = tmp_path / "python"
    py.write_text("#!/usr/bin/env bash\nsleep 30\n")
    py.chmod(0o755)
    r = _run_script(tmp_path, {"PYTHON": str(py), "GPU_CHECK_SECONDS": "5"}, timeout=60)
    status = _summary(tmp_path / "out")
    assert r.returncode == 0 and status["gpu_info"].startswith("TIMEOUT")
    assert status["tests_rest"].startswith("skipped: the 5 s budget is spent")


def test_gpu_table_names_failures_and_a_missing_torch():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu
    rows = {"GPT": dict(minissl_ms=10.0, torch_ms=5.0, ratio=2.0, numpy_ms=400.0, speedup=40.0, minissl_mib=300.0,
                        torch_mib=200.0),
            "BERT": dict(minissl_ms=8.0, numpy_ms=80.0, speedup=10.0, minissl_mib=100.0),
            "big GPT": dict(error="OutOfMemoryError: out of memory")}
    md = gpu.table("H100", "13.0", 12040, "torch not installed", rows)
    assert "| GPT | 10.0 | 5.0 | **2.00** | 400 | 40.0× | 300 | 200 |" in md
    assert "| BERT | 8.0 | - | - | 80 | 10.0× | 100 | - |" in md
    assert "| big GPT | failed: OutOfMemoryError: out of memory |" in md
    assert md.startswith("H100; CuPy 13.0 (CUDA runtime 12040); torch: torch not installed.")


@needs_bash
@pytest.mark.slow
def test_the_whole_check_runs_on_fakecupy(tmp_path):
    """The real steps, small: minissl on tests/fakecupy, the tiny benchmark, one demo's --help, one missing demo."""
    env = {"PYTHON": sys.executable, "PYTHONPATH": str(ROOT / "tests" / "fakecupy"),
           "GPU_CHECK_CORE_TESTS": "tests/test_speedups.py", "GPU_CHECK_REST_TESTS": "tests/test_fast_paths.py",
           "GPU_CHECK_DEMOS": "gpt_sort no_such_demo", "GPU_CHECK_DEMO_FLAGS": "--help",
           "GPU_CHECK_BENCH_FLAGS": "--tiny", "GPU_CHECK_SECONDS": "400"}
    r = _run_script(tmp_path, env, timeout=600)
    status = _summary(tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert {k: v for k, v in status.items() if v != "ok"} == {"demo_no_such_demo": "FAILED (exit 2)"}, status
    report = (tmp_path / "out" / "gpu_check.md").read_text()
    assert "fused kernels: softmax" in report  # minissl took the kernel path on the (fake) GPU
    assert "| GPT (tiny) |" in report and "| BERT (tiny batch) |" in report and "failed:" not in report


def test_the_scatter_comparison_runs_on_the_cupy_code_path(tmp_path):
    """benchmarks/gpu_scatter.py under tests/fakecupy: the path runs and both ways agree (numbers are the GPU's)."""
    env = {**os.environ, "MINISSL_BACKEND": "cupy", "PYTHONPATH": f"{ROOT / 'tests' / 'fakecupy'}:{ROOT}"}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_scatter.py"), "--tiny"], capture_output=True,
                       text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("minissl fixed order") == 2 and "repeats bit for bit: yes" in r.stdout
    gaps = [float(line.split(":")[1]) for line in r.stdout.splitlines() if "largest difference" in line]
    assert len(gaps) == 2 and max(gaps) < 1e-5
