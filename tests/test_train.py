"""fit: the same numbers as the loop written out by hand, its history, evaluation, checkpoints."""
import numpy as np
import pytest

import minissl as ms
from minissl import nn, optim
from minissl.models.bert import BertConfig, BertForPreTraining
from minissl.tasks import grammar_corpus, grammar_tokenizer
from minissl.text.collate import mask_tokens, pad_batch
from minissl.train import (finetune, fit, label_accuracy, make_optimizer, minibatches, pretrain_mlm, save_checkpoint,
                           steps_per_epoch, take)

npy = ms.backend.to_numpy


class Net(nn.Module):
    """A small regression net with dropout, so that training mode and the RNG matter."""

    def __init__(self, p=0.2):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Dropout(p), nn.Linear(16, 1))
        self.modes = []

    def forward(self, x, y=None):
        self.modes.append(self.training)
        out = self.body(ms.tensor(x))
        return out if y is None else ((out.reshape(-1) - ms.tensor(y)) ** 2).mean()


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, (np.sin(x[:, 0]) + x[:, 1] * x[:, 2]).astype(np.float32)


def batch_fn(x, y, seed=1, size=16):
    rng = np.random.default_rng(seed)

    def get(step):
        rows = rng.integers(len(x), size=size)
        return x[rows], y[rows]
    return get


def weights(model):
    return [npy(p.array).copy() for p in model.parameters()]


def test_fit_is_the_hand_written_loop_exactly():
    x, y = data()
    ms.manual_seed(3)
    ref = Net()
    opt, sched = make_optimizer(ref, lr=1e-2, warmup=3, total_steps=25)
    get, losses, lrs = batch_fn(x, y), [], []
    for step in range(25):
        loss = ref(*get(step))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        losses.append(loss.item())

    ms.manual_seed(3)
    model = Net()
    opt, sched = make_optimizer(model, lr=1e-2, warmup=3, total_steps=25)
    hist = fit(model, batch_fn(x, y), 25, optimizer=opt, scheduler=sched, grad_clip=0.5, progress=False)
    assert hist["loss"] == losses and hist["lr"] == lrs and hist["step"] == list(range(1, 26))
    for a, b in zip(weights(ref), weights(model)):
        np.testing.assert_array_equal(a, b)
    assert lrs[0] < lrs[2] and lrs[-1] < lrs[3]  # warm-up, then decay: the schedule was stepped


def test_fit_learns_and_hands_the_model_back_in_eval_mode():
    x, y = data(256)
    model = Net(p=0.0)
    hist = fit(model, batch_fn(x, y, size=32), 300, optimizer=optim.Adam(model.parameters(), lr=1e-2),
               progress=False)
    assert np.mean(hist["loss"][-20:]) < 0.5 * np.mean(hist["loss"][:20])  # the fit improved on its start
    assert all(model.modes) and not model.training


def test_evaluation_every_n_steps_and_after_the_last_then_back_to_training():
    x, y = data()
    model = Net()
    seen = []

    def evaluate(m):
        seen.append(m.training)
        m.eval()  # an evaluation may switch modes; fit switches back
        return len(seen)

    hist = fit(model, batch_fn(x, y), 25, eval_fn=evaluate, eval_every=10, progress=False)
    assert hist["eval_step"] == [10, 20, 25] and hist["eval"] == [1.0, 2.0, 3.0]
    assert seen == [True, True, True] and all(model.modes)
    hist = fit(model, batch_fn(x, y), 20, eval_fn=lambda m: {"mse": 1.0}, eval_every=10, progress=False)
    assert hist["eval_step"] == [10, 20] and hist["eval"][-1] == {"mse": 1.0}  # no second call at the end


def test_iterable_of_batches_and_model_output_conventions():
    x, y = data(40)
    rows = list(minibatches(40, 16, 2, np.random.default_rng(0)))
    model = Net()
    hist = fit(model, [(x[r], y[r]) for r in rows], progress=False)
    assert len(hist["loss"]) == len(rows) == 2 * steps_per_epoch(40, 16) == 6

    class Out:  # Hugging Face style: an output object carrying .loss
        def __init__(self, loss):
            self.loss = loss

    class OutNet(Net):
        def forward(self, x, y=None):
            return Out(super().forward(x, y))

    hist = fit(OutNet(), iter([{"x": x, "y": y}] * 3), 5, eval_fn=lambda m: 0.0, progress=False)
    assert hist["step"] == [1, 2, 3] and hist["eval_step"] == [3]  # ran out early: evaluated where it stopped
    with pytest.raises(ValueError, match="loss_fn"):
        fit(model, [x], progress=False)  # model(x) gives predictions (40, 1), not a loss

    class LogitsOnly(Net):
        def forward(self, x, y=None):
            return Out(None)  # an output without a loss

    with pytest.raises(TypeError, match="loss_fn"):
        fit(LogitsOnly(), [(x, y)], progress=False)


def test_bad_arguments_are_refused():
    model = Net()
    with pytest.raises(ValueError, match="steps="):
        fit(model, lambda step: data(), progress=False)
    with pytest.raises(ValueError, match="len"):
        fit(model, (data() for _ in range(3)), progress=False)
    with pytest.raises(ValueError, match="eval_every"):
        fit(model, [data()], eval_every=0, eval_fn=lambda m: 0, progress=False)
    with pytest.raises(ValueError, match="decay"):
        make_optimizer(model, decay="step")
    with pytest.raises(ValueError, match="batch_size"):
        next(minibatches(10, 0, 1, np.random.default_rng(0)))


def test_after_step_and_checkpoint_resume(tmp_path):
    """12 steps in one go = 7 steps, checkpoint, a fresh model and optimizer from it, 5 more steps."""
    x, y = data()
    ms.manual_seed(5)
    full = Net(p=0.0)
    calls = []
    fit(full, batch_fn(x, y), 12, optimizer=optim.Adam(full.parameters(), lr=1e-2),
        after_step=lambda s, m: calls.append(s), progress=False)
    assert calls == list(range(1, 13))

    ms.manual_seed(5)
    part, get = Net(p=0.0), batch_fn(x, y)
    fit(part, get, 7, optimizer=optim.Adam(part.parameters(), lr=1e-2), checkpoint=tmp_path / "c.npz",
        progress=False)
    ckpt = ms.load(tmp_path / "c.npz")
    assert ckpt["step"] == 7 and "config" not in ckpt  # Net has no dataclass config
    resumed = Net(p=0.0)
    resumed.load_state_dict(ckpt["model"])
    opt = optim.Adam(resumed.parameters(), lr=1e-2)
    opt.load_state_dict(ckpt["optimizer"])
    fit(resumed, get, 5, optimizer=opt, progress=False)
    for a, b in zip(weights(full), weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(weights(full)[0], weights(part)[0])  # the last 5 steps did move the weights


def test_minibatches_cover_every_row_once_per_epoch_and_drop_last():
    rng = np.random.default_rng(0)
    rows = list(minibatches(10, 4, 2, rng))
    assert [len(r) for r in rows] == [4, 4, 2, 4, 4, 2]
    assert sorted(np.concatenate(rows[:3])) == list(range(10)) == sorted(np.concatenate(rows[3:]))
    first = np.random.default_rng(0).permutation(10)
    np.testing.assert_array_equal(np.concatenate(rows[:3]), first)  # one rng.permutation per epoch
    assert [len(r) for r in minibatches(10, 4, 1, rng, drop_last=True)] == [4, 4] and steps_per_epoch(10, 4, True) == 2


def test_save_checkpoint_keeps_a_dataclass_config(tmp_path):
    from minissl.models.gpt import GPT, GPTConfig, load_checkpoint
    m = GPT(GPTConfig(vocab_size=7, n_layer=1, n_head=1, n_embd=8, block_size=4))
    save_checkpoint(tmp_path / "g.npz", m, step=3)
    m2, ckpt = load_checkpoint(tmp_path / "g.npz")
    assert ckpt["step"] == 3 and ckpt["config"]["n_embd"] == 8 and "optimizer" not in ckpt


class Tagger(nn.Module):
    """Keyword arguments as a BERT head takes them: input_ids, attention_mask, labels -> output.loss."""

    def __init__(self):
        super().__init__()
        self.emb, self.out = nn.Embedding(12, 8), nn.Linear(8, 3)

    def forward(self, input_ids, attention_mask, labels=None):
        from types import SimpleNamespace
        logits = self.out(self.emb(ms.tensor(input_ids)).mean(dim=1))
        return SimpleNamespace(logits=logits, loss=None if labels is None else
                               nn.functional.cross_entropy(logits, ms.tensor(labels)))


def labelled(n=37, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 7, n)
    ids = np.zeros((n, 6), np.int64)
    for i, k in enumerate(lengths):
        ids[i, :k] = rng.integers(1, 12, k)
    return {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int64), "labels": ids[:, 0] % 3}


def test_finetune_is_adamw_warmup_linear_over_shuffled_epochs():
    data = labelled()
    ms.manual_seed(1)
    ref = Tagger()
    steps = 3 * 5  # 37 rows in batches of 8: 5 a pass
    opt = optim.AdamW(optim.param_groups_for_decay(ref, 0.01), lr=1e-2)
    sched = optim.warmup_linear(opt, 1, steps)  # int(0.1 * 15)
    rng, losses = np.random.default_rng(4), []
    for _ in range(3):
        order = rng.permutation(37)
        for k in range(0, 37, 8):
            rows = order[k:k + 8]
            width = data["attention_mask"][rows].sum(1).max()
            out = ref(data["input_ids"][rows, :width], data["attention_mask"][rows, :width], data["labels"][rows])
            opt.zero_grad()
            out.loss.backward()
            nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(out.loss.item())
    ms.manual_seed(1)
    model = Tagger()
    seen = []
    hist = finetune(model, data, epochs=3, batch_size=8, lr=1e-2, seed=4, progress=False,
                    val=data, metric=lambda m, v: seen.append(m.training) or 0.5)
    assert hist["loss"] == losses and hist["eval_step"] == [5, 10, 15] and seen == [True] * 3
    for a, b in zip(weights(ref), weights(model)):
        np.testing.assert_array_equal(a, b)
    assert len(finetune(Tagger(), data, steps=12, batch_size=8, progress=False)["loss"]) == 12  # 2.4 passes


def test_finetune_refuses_unclear_requests():
    data = labelled()
    with pytest.raises(ValueError, match="one of epochs= and steps="):
        finetune(Tagger(), data, progress=False)
    with pytest.raises(ValueError, match="together"):
        finetune(Tagger(), data, epochs=1, val=data, progress=False)
    with pytest.raises(ValueError, match="one row per example"):
        finetune(Tagger(), dict(data, labels=data["labels"][:5]), epochs=1, progress=False)
    got = take(data, [2, 0])
    assert got["input_ids"].shape[1] == data["attention_mask"][[2, 0]].sum(1).max()
    assert take({"x": np.arange(5)}, [4, 1])["x"].tolist() == [4, 1]  # no mask: rows only


def test_label_accuracy_counts_labelled_positions_across_batches():
    from types import SimpleNamespace

    class Echo(nn.Module):  # predicts class = input id (mod 3) at every position, or at the first one
        def __init__(self, per_token):
            super().__init__()
            self.per_token = per_token

        def forward(self, input_ids, attention_mask):
            one_hot = np.eye(3, dtype=np.float32)[input_ids % 3]
            return SimpleNamespace(logits=ms.tensor(one_hot if self.per_token else one_hot[:, 0]))

    ids = np.array([[1, 2, 0], [2, 2, 0], [0, 1, 1], [1, 0, 0], [2, 1, 0]])
    mask = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 0, 0], [1, 1, 0]])
    sentences = {"input_ids": ids, "attention_mask": mask, "labels": np.array([1, 0, 0, 1, 1])}
    model = Echo(per_token=False)
    assert label_accuracy(model, sentences, batch_size=2) == 3 / 5 and not model.training
    tags = np.where(mask == 1, ids % 3, -100)
    tags[0, 1], tags[2, 0] = 0, -100  # one wrong tag, one position without a label
    tokens = dict(sentences, labels=tags)
    assert label_accuracy(Echo(per_token=True), tokens, batch_size=3) == (mask.sum() - 2) / (mask.sum() - 1)


def test_pretrain_mlm_is_adamw_warmup_linear_on_fresh_masked_samples():
    tok = grammar_tokenizer()
    seqs = [tok.encode(" ".join(d)) for d in grammar_corpus(30, seed=2)]
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=128)
    steps, size, lr = 20, 4, 1e-2
    ms.manual_seed(3)
    ref = BertForPreTraining(cfg)
    opt = optim.AdamW(optim.param_groups_for_decay(ref, 0.01), lr=lr, betas=(0.9, 0.999))
    sched = optim.warmup_linear(opt, steps // 10, steps)
    rng, losses, lrs = np.random.default_rng(5), [], []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        x, am = pad_batch([seqs[i] for i in rng.integers(len(seqs), size=size)], tok.pad_token_id)
        x, labels = mask_tokens(x, rng, mask_id=tok.mask_token_id, vocab_size=tok.vocab_size,
                                special_ids=tok.all_special_ids, attention_mask=am, mlm_probability=0.3)
        loss = ref(x, am, np.zeros_like(x), labels=labels).loss
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    ms.manual_seed(3)
    model = BertForPreTraining(cfg)
    hist = pretrain_mlm(model, seqs, tok, steps, batch_size=size, lr=lr, seed=5, mlm_probability=0.3, progress=False)
    assert hist["loss"] == losses and hist["lr"] == lrs and max(lrs) == lr  # warm-up to lr over 2 steps, then down
    for a, b in zip(weights(ref), weights(model)):
        np.testing.assert_array_equal(a, b)
