"""One BERT pre-training step (MLM + SOP, forward + backward + AdamW): minissl vs PyTorch.

The model is the default of demos/bert_pretrain_finetune.py (4 layers, hidden 128,
4 heads, FFN 512, the grammar's 353-word vocabulary), on batches of 32 sequences
of 32 tokens. The PyTorch model does the same work: ``nn.TransformerEncoderLayer``
(post-LN, GELU), MLM logits only at the masked positions, a tied decoder, SOP on
the pooled [CLS]; it starts from minissl's weights, and the two losses are checked
to agree before timing.

Time: steps alternate between the two in one process (shared machines drift);
we report medians and the ratio minissl / PyTorch.

Memory: each framework runs in its own subprocess that imports *both* libraries
(so the import footprint is the same), builds the model, takes one step (so the
optimizer state exists), then samples its resident memory every millisecond
during three more steps. Peak minus the level before is the memory a step needs
(activations, gradients, temporaries), measured the same way for NumPy's and
torch's allocators. minissl's NumPy peak is also
measured with tracemalloc (NumPy reports its array buffers to it).

Threads: ``--threads N`` gives both frameworks N BLAS/compute threads (set before
NumPy loads). On a busy shared machine use 1: OpenBLAS's spinning worker threads
make small GEMMs orders of magnitude slower when the cores are oversubscribed.

    python benchmarks/bert_step.py [--steps 20] [--batch 32] [--seq 32] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

if "--threads" in sys.argv:  # must happen before NumPy (and its BLAS) is imported
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_v] = _n

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import minissl as ms  # noqa: E402
from minissl.models.bert import BertConfig, BertForPreTraining  # noqa: E402
from minissl.optim import AdamW  # noqa: E402

VOCAB = 353


def config(dropout=0.1):
    return BertConfig(vocab_size=VOCAB, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                      intermediate_size=512, max_position_embeddings=128, hidden_dropout_prob=dropout,
                      attention_probs_dropout_prob=dropout)


def make_batch(rng, B, T):
    ids = rng.integers(5, VOCAB, (B, T))
    am = np.ones((B, T), np.int64)
    lengths = rng.integers(T // 2, T + 1, B)
    am[np.arange(T)[None] >= lengths[:, None]] = 0
    ids[am == 0] = 0
    labels = np.where((rng.random((B, T)) < 0.15) & (am == 1), ids, -100)
    labels[:, 1] = ids[:, 1]  # at least one masked token per row
    tt = (np.arange(T)[None] >= (lengths // 2)[:, None]).astype(np.int64) * am
    return ids, am, tt, labels, rng.integers(0, 2, B)


def torch_model(ours):
    """The same network in PyTorch, initialised with minissl's weights."""
    import torch
    from torch import nn
    c = ours.config
    H = c.hidden_size

    class TorchBert(nn.Module):
        def __init__(self):
            super().__init__()
            self.word, self.pos, self.ttype = nn.Embedding(VOCAB, H), nn.Embedding(128, H), nn.Embedding(2, H)
            self.ln = nn.LayerNorm(H, eps=c.layer_norm_eps)
            self.drop = nn.Dropout(c.hidden_dropout_prob)
            self.layers = nn.ModuleList([nn.TransformerEncoderLayer(
                H, c.num_attention_heads, c.intermediate_size, c.hidden_dropout_prob, activation="gelu",
                layer_norm_eps=c.layer_norm_eps, batch_first=True) for _ in range(c.num_hidden_layers)])
            self.pool = nn.Linear(H, H)
            self.tdense, self.tln = nn.Linear(H, H), nn.LayerNorm(H, eps=c.layer_norm_eps)
            self.bias = nn.Parameter(torch.zeros(VOCAB))
            self.sop = nn.Linear(H, 2)

        def forward(self, ids, am, tt, labels, sl):
            T = ids.shape[1]
            x = self.drop(self.ln(self.word(ids) + self.ttype(tt) + self.pos(torch.arange(T, device=ids.device))[None]))
            for layer in self.layers:
                x = layer(x, src_key_padding_mask=am == 0)
            pooled = torch.tanh(self.pool(x[:, 0]))
            where = labels.reshape(-1) != -100
            h = self.tln(nn.functional.gelu(self.tdense(x.reshape(-1, H)[where])))
            mlm = nn.functional.cross_entropy(h @ self.word.weight.T + self.bias, labels.reshape(-1)[where])
            return mlm + nn.functional.cross_entropy(self.sop(pooled), sl)

    m = TorchBert()
    P = {n: torch.tensor(p.numpy()) for n, p in ours.named_parameters()}
    with torch.no_grad():
        m.word.weight.copy_(P["bert.embeddings.word_embeddings.weight"])
        m.pos.weight.copy_(P["bert.embeddings.position_embeddings.weight"])
        m.ttype.weight.copy_(P["bert.embeddings.token_type_embeddings.weight"])
        pairs = [(m.ln, "bert.embeddings.LayerNorm"), (m.pool, "bert.pooler.dense"), (m.sop, "cls.seq_relationship"),
                 (m.tdense, "cls.predictions.transform.dense"), (m.tln, "cls.predictions.transform.LayerNorm")]
        for i, L in enumerate(m.layers):
            p = f"bert.encoder.layer.{i}."
            a = p + "attn."
            L.self_attn.in_proj_weight.copy_(torch.cat([P[a + n + "_proj.weight"] for n in "qkv"]))
            L.self_attn.in_proj_bias.copy_(torch.cat([P[a + n + "_proj.bias"] for n in "qkv"]))
            pairs += [(L.self_attn.out_proj, p + "attn.out_proj"), (L.linear1, p + "mlp.fc1"),
                      (L.linear2, p + "mlp.fc2"), (L.norm1, p + "attn_norm"), (L.norm2, p + "mlp_norm")]
        for mod, name in pairs:
            mod.weight.copy_(P[name + ".weight"])
            mod.bias.copy_(P[name + ".bias"])
        m.bias.copy_(P["cls.predictions.bias"])
    return m


def steppers(B, T, seed=0, device="cpu", torch_ref=True):
    """(minissl step, torch step, first losses) on the same weights and batches.

    ``device`` places the torch model and batches ("cuda" beside minissl on CuPy);
    ``torch_ref=False`` builds minissl's step alone (no torch needed): (step, None, None)."""
    ms.manual_seed(seed)
    ours = BertForPreTraining(config())
    ref = torch_model(ours).to(device) if torch_ref else None
    opt_ms = AdamW(ours.parameters(), lr=1e-4)
    rng = np.random.default_rng(seed)
    batches = [make_batch(rng, B, T) for _ in range(4)]
    state = {"i": 0}

    def step_ms():
        b = batches[state["i"] % 4]
        loss = ours(*b[:3], labels=b[3], sentence_label=b[4]).loss
        opt_ms.zero_grad()
        loss.backward()
        opt_ms.step()
        if not torch_ref:
            state["i"] += 1
    if not torch_ref:
        return step_ms, None, None
    import torch
    opt_t = torch.optim.AdamW(ref.parameters(), lr=1e-4)
    tb = [tuple(torch.tensor(a, device=device) for a in b) for b in batches]

    # same work: in eval mode (no dropout) the two losses agree
    ours.eval(), ref.eval()
    l_ms = ours(*batches[0][:3], labels=batches[0][3], sentence_label=batches[0][4]).loss.item()
    l_t = ref(*tb[0]).item()
    assert abs(l_ms - l_t) < 1e-3 * max(1, abs(l_t)), (l_ms, l_t)
    ours.train(), ref.train()

    def step_t():
        b = tb[state["i"] % 4]
        loss = ref(*b)
        opt_t.zero_grad()
        loss.backward()
        opt_t.step()
        state["i"] += 1
    return step_ms, step_t, (l_ms, l_t)


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def memory_child(which, B, T, steps):
    """Peak resident memory during the steps minus the resident memory just before
    them (sampled every millisecond by a thread: ru_maxrss cannot be reset, and
    setup already set it)."""
    import gc
    import threading
    import tracemalloc

    import torch  # both frameworks imported in both children
    if "OMP_NUM_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    step_ms, step_t, _ = steppers(B, T)
    step = step_ms if which == "minissl" else step_t
    step()  # the first step allocates the optimizer state: count it as the model's, not the step's
    gc.collect()
    before, peak, done = _rss_mb(), [0.0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.001)
    th = threading.Thread(target=watch)
    th.start()
    if which == "minissl":
        tracemalloc.start()
    for _ in range(steps):
        step()
    traced = tracemalloc.get_traced_memory()[1] / 2 ** 20 if which == "minissl" else None
    done.set()
    th.join()
    print(json.dumps({"rss_before_mb": before, "rss_peak_mb": max(peak[0], before), "traced_peak_mb": traced}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="BLAS/torch threads for both (default: libraries' own)")
    p.add_argument("--memory-child", choices=["minissl", "torch"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.memory_child:
        return memory_child(a.memory_child, a.batch, a.seq, 3)
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    step_ms, step_t, losses = steppers(a.batch, a.seq)
    for _ in range(3):
        step_ms(), step_t()
    t_ms, t_t = [], []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step_ms()
        t1 = time.perf_counter()
        step_t()
        t2 = time.perf_counter()
        t_ms.append(t1 - t0)
        t_t.append(t2 - t1)
    m_ms, m_t = statistics.median(t_ms), statistics.median(t_t)
    tokens = a.batch * a.seq
    mem = {}
    for which in ("minissl", "torch"):
        cmd = [sys.executable, __file__, "--memory-child", which, "--batch", str(a.batch), "--seq", str(a.seq)]
        out = subprocess.run(cmd + (["--threads", str(a.threads)] if a.threads else []), capture_output=True,
                             text=True, check=True)
        mem[which] = json.loads(out.stdout.strip().splitlines()[-1])
    grow = {k: v["rss_peak_mb"] - v["rss_before_mb"] for k, v in mem.items()}
    print(f"BERT pre-training step, batch {a.batch} x {a.seq} tokens, 4 layers, hidden 128; "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), {os.cpu_count()} CPUs; "
          f"eval-mode losses minissl {losses[0]:.5f} vs torch {losses[1]:.5f}")
    print(f"{'':10s}{'ms/step':>10s}{'tokens/s':>11s}{'peak RSS +MB':>14s}")
    print(f"{'minissl':10s}{m_ms * 1e3:10.1f}{tokens / m_ms:11.0f}{grow['minissl']:14.1f}")
    print(f"{'pytorch':10s}{m_t * 1e3:10.1f}{tokens / m_t:11.0f}{grow['torch']:14.1f}")
    print(f"ratio minissl/pytorch: time {m_ms / m_t:.2f}x, step memory {grow['minissl'] / max(grow['torch'], 1e-9):.2f}x"
          f"; minissl NumPy peak by tracemalloc {mem['minissl']['traced_peak_mb']:.1f} MB")


if __name__ == "__main__":
    main()
