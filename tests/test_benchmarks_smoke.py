"""Smoke tests of the benchmark entry point's pieces at tiny sizes, so run_all.py cannot silently break."""
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)

import benchlib  # noqa: E402
import ops  # noqa: E402
import run_all  # noqa: E402
import scaling  # noqa: E402

TINY = dict(n_layer=1, n_head=2, n_embd=16, T=8, B=2)


def test_time_alternating_takes_turns_and_rotates():
    calls = []
    t = benchlib.time_alternating({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=4, warmup=1)
    assert [len(v) for v in t.values()] == [4, 4]
    assert calls == ["a", "b"] + ["a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up, then the order rotates


def test_cpu_clock_switch():
    try:
        assert benchlib.use_cpu_clock() is benchlib.time.process_time
        assert benchlib.CLOCK is benchlib.time.process_time
    finally:
        benchlib.use_cpu_clock(False)
    assert benchlib.CLOCK is benchlib.time.perf_counter


def test_step_memory_sees_an_allocation():
    keep = []

    def step():  # 64 MiB that stay alive: the peak must rise by at least that much
        keep.append(np.ones(16 * 2 ** 20, dtype=np.float32))
    rise = benchlib.measure_step_memory(step, steps=1)
    assert 60 <= rise < 200


def test_gpt_flops_matches_a_count_over_the_model():
    """3 × (2·N·in·out over every Linear + 4·B·T²·E of attention per layer), counted from the modules."""
    from minissl import nn
    from minissl.models.gpt import GPT, GPTConfig
    cfg = dict(n_layer=2, n_head=2, n_embd=16, T=8, B=3, vocab=11)
    model = GPT(GPTConfig(cfg["vocab"], block_size=cfg["T"], n_layer=2, n_head=2, n_embd=16))
    N = cfg["B"] * cfg["T"]
    lin = sum(2 * N * m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))
    attn = cfg["n_layer"] * 4 * cfg["B"] * cfg["T"] ** 2 * cfg["n_embd"]
    assert scaling.gpt_flops(**cfg) == 3 * (lin + attn)


def test_training_step_pair_agrees_and_times():
    ours, theirs = scaling.gpt_steps(**TINY)
    l0, t0 = ours(), theirs()
    assert abs(l0 - t0) < 1e-4
    row = scaling.measure(TINY, repeats=2, memory=False)
    assert row["minissl_ms"] > 0 and row["torch_ms"] > 0
    assert row["time_ratio"] == pytest.approx(row["minissl_ms"] / row["torch_ms"])
    md = scaling.table([dict(row, sweep="seq")])
    assert "| seq | 8 | 16 |" in md


def test_profile_labels_ops():
    import minissl as ms
    import minissl.nn.functional as F
    x = ms.randn(64, 32, requires_grad=True)
    w = ms.randn(16, 32, requires_grad=True)

    def step():
        F.linear(x, w).sum().backward()
    total, top = benchlib.profile_by_op(step, steps=2, top=20)
    names = [k for k, _ in top]
    assert "Linear.forward" in names and "Linear.backward" in names
    assert total > 0 and sum(v for _, v in top) <= total * 1.0001


def test_ops_run_tiny():
    rows = ops.run(tiny=True, repeats=1, progress=False)
    assert [r["op"] for r in rows] == ["matmul", "softmax", "layer_norm", "cross_entropy", "attention", "embedding"]
    assert all(r["minissl_ms"] > 0 and r["torch_ms"] > 0 for r in rows)


class _Args:  # the report's options: --quick, wall clock
    quick, cpu_clock = True, False


INFO = dict(cpu="test cpu", cpus=2, python="3", numpy="2", blas_threads=1, torch="2", torch_threads=1, load_average=1.0)


def test_report_renders_all_sections(tmp_path):
    step = dict(workload="GPT (demos/gpt_text.py)", config="tiny", minissl_ms=2.0, torch_ms=4.0, time_ratio=0.5,
                gflop=1.0, minissl_gflops=500.0, torch_gflops=250.0, matmul_gflops=1000.0, minissl_mib=3.0, torch_mib=2.0,
                memory_ratio=1.5, profile=(0.002, [("Linear.backward", 0.001)]))
    op_row = dict(op="softmax", shape="(2,2)", minissl_ms=1.0, torch_ms=2.0, ratio=0.5)
    md = run_all.report(INFO, 1000.0, [step], [op_row], [], {}, None, _Args())
    for heading in ("## Machine", "## Training steps", "## Ops", "## Scaling", "## Against other tools", "## GPU",
                    "## Method"):
        assert heading in md
    assert "**0.50**" in md and "(**50%**)" in md and "Pending" in md and "Linear.backward: 50%" in md
    assert "time met, memory met, matmul share met" in md
    out = tmp_path / "R.md"
    out.write_text(md)
    run_all._patch_gpu_section(str(out), "GPU TABLE")
    patched = out.read_text()
    assert "GPU TABLE" in patched and "Pending" not in patched and "## Method" in patched
    assert patched.count("## Reading the numbers") == 1  # the section after the GPU one stays


def _llama_result():
    side = {"prefill_tokens_per_s": 100.0, "decode_tokens_per_s": 10.0, "generate_s": 1.0}
    fast = {"prefill_tokens_per_s": 50.0, "decode_tokens_per_s": 20.0, "generate_s": 1.0}
    run = {"batch 1": {"minissl": fast, "transformers": side}, "batch 8": {"minissl": fast, "transformers": side},
           "load_average_before": 1.0, "load_average_after": 2.0}
    return {"prompt_tokens": 38, "new_tokens": 32, "repeats": 5, "threads": {"1": run, "2": run},
            "peak_mib": {"minissl": 600.0, "transformers": 500.0}, "_written": "2026-01-01 00:00",
            "minissl_decode_profile": {"threads": 1, "tokens": 32, "seconds": 2.0,
                                       "by_op": [["Linear.forward", 1.5], ["RMSNorm.forward", 0.1]]}}


def test_llama_rows_and_section_go_into_an_existing_results_file(tmp_path):
    """--only llama_vs_transformers: its rows and section replace the old ones, everything else stays."""
    step = dict(workload="GPT", config="tiny", minissl_ms=2.0, torch_ms=4.0, time_ratio=0.5, gflop=1.0,
                minissl_gflops=500.0, torch_gflops=250.0, matmul_gflops=1000.0, profile=(0.002, []))
    before = run_all.report(INFO, 1000.0, [step], [], [], {}, None, _Args())
    assert "| SmolLM2-135M generation vs transformers | transformers | not run" in before
    out = tmp_path / "R.md"
    out.write_text(before)
    for _ in range(2):  # a second patch replaces the first
        run_all._patch_llama(str(out), _llama_result())
    after = out.read_text()
    rows = [line for line in after.splitlines() if line.startswith("| SmolLM2-135M")]
    assert len(rows) == 2 and "not run" not in " ".join(rows)  # the first thread count's; all are in the section
    assert "| SmolLM2-135M greedy decoding, batch 1, 1 thread " in after and "| 20.0 vs 10.0 tokens/s | 0.50 |" in after
    assert after.count(run_all.LLAMA_HEADING) == 1
    assert "| 2 | 8 | prefill | 50.0 | 100.0 | **2.00** | 1.0-2.0 |" in after
    assert "- Linear.forward: 75%" in after and "ratio 1.20" in after
    # the same text as a fresh report with these results, apart from the rows' place in the table
    fresh = run_all.report(INFO, 1000.0, [step], [], [], {"llama": _llama_result()}, None, _Args())
    assert sorted(after.splitlines()) == sorted(fresh.splitlines())
    assert after.index(run_all.LLAMA_HEADING) < after.index("## GPU") and "| CBOW vs gensim" in after


def test_training_steps_alone_replace_their_section_and_nothing_else(tmp_path):
    """--only training_steps: the step table, targets and profiles are replaced, with a line saying when."""
    old = dict(workload="GPT", config="tiny", minissl_ms=2.0, torch_ms=4.0, time_ratio=0.5, gflop=1.0,
               minissl_gflops=500.0, torch_gflops=250.0, matmul_gflops=1000.0, profile=(0.002, [("Linear", 0.001)]))
    new = dict(old, minissl_ms=6.0, time_ratio=1.5, minissl_gflops=166.7, profile=(0.006, [("Conv2d", 0.003)]))
    before = run_all.report(INFO, 1000.0, [old], [], [], {}, None, _Args())
    out = tmp_path / "R.md"
    out.write_text(before)
    for line in ("*first patch*", "*second patch*"):
        run_all._patch_steps(str(out), [new], line)
    after = out.read_text()
    assert "*second patch*" in after and "*first patch*" not in after
    assert "| **1.50** |" in after and "| **0.50** |" not in after and "- GPT: time MISSED" in after
    assert "- Conv2d: 50%" in after and "- Linear: 50%" not in after
    fresh = run_all.report(INFO, 1000.0, [new], [], [], {}, None, _Args())
    def lines(text):  # the header's minute may differ between the two reports
        return [x for x in text.splitlines() if x not in ("*second patch*", "") and not x.startswith("Written by")]
    assert lines(after) == lines(fresh)


def test_gpu_path_skips_cleanly_without_a_gpu(monkeypatch):
    import gpu
    monkeypatch.setenv("MINISSL_BACKEND", "numpy")
    assert gpu.run(write=False).startswith("GPU path skipped")


def test_torch_device_path_trains_like_minissl():
    """The GPU path's torch step (model and optimizer moved to a device) run on the CPU: same first losses."""
    import gpt_vs_torch as G
    import minissl as ms
    from minissl.models.gpt import GPT, GPTConfig, make_optimizer
    ms.manual_seed(0)
    model = GPT(GPTConfig(50, block_size=8, n_layer=1, n_head=2, n_embd=16))
    opt, sched = make_optimizer(model, lr=1e-3, warmup=1, total_steps=100)  # lr constant after step 1
    tm, topt, tsched = G.torch_setup(model, sched)
    x = np.random.default_rng(0).integers(0, 50, (2, 8))
    step = scaling._torch_on(tm, topt, tsched, x, x, "cpu")
    theirs = [float(step()) for _ in range(2)]
    ours = [G.ms_step(model, opt, sched, list(model.parameters()), x, x) for _ in range(2)]
    assert np.allclose(ours, theirs, atol=1e-4)


def test_conv_step_pair_agrees_and_times():
    """The CNN benchmark's two steps start from the same weights (first losses checked inside) and run."""
    import conv_vs_torch
    ours, theirs, first = conv_vs_torch.steppers(batch=4)
    assert abs(first[0] - first[1]) < 1e-4
    t = benchlib.time_alternating({"ours": ours, "theirs": theirs}, repeats=1, warmup=0)
    assert len(t["ours"]) == 1 and conv_vs_torch.flops(4) > 0
