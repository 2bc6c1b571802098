"""BERT: Hugging Face names and math, pre-training loss, heads, QA spans, checkpoints."""
import json
import os

import numpy as np
import pytest

import minissl as ms
from minissl.models.bert import BertConfig, BertForPreTraining, BertModel
from minissl.models.hf_bert import to_hf_name
from minissl.models.bert_heads import (BertForQuestionAnswering, BertForSequenceClassification,
                                       BertForTokenClassification, best_span, pad_windows, qa_windows)

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)

CFG = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=24,
           max_position_embeddings=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def tiny(cls=BertModel, **kw):
    ms.manual_seed(0)
    return cls(BertConfig(**CFG), **kw)


def batch(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 40, (3, 9))
    am = np.ones((3, 9), np.int64)
    am[1, 6:] = 0
    am[2, 3:] = 0
    ids[am == 0] = 0
    tt = np.zeros((3, 9), np.int64)
    tt[0, 5:] = 1
    return ids, am, tt


HF_LAYER_NAMES = """attention.self.query.weight attention.self.query.bias attention.self.key.weight
attention.self.key.bias attention.self.value.weight attention.self.value.bias attention.output.dense.weight
attention.output.dense.bias attention.output.LayerNorm.weight attention.output.LayerNorm.bias
intermediate.dense.weight intermediate.dense.bias output.dense.weight output.dense.bias output.LayerNorm.weight
output.LayerNorm.bias""".split()


def test_parameter_names_translate_to_hugging_faces():
    names = [to_hf_name(n) for n, _ in tiny().named_parameters()]
    want = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
            "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
    want += [f"encoder.layer.{i}.{n}" for i in range(2) for n in HF_LAYER_NAMES]
    want += ["pooler.dense.weight", "pooler.dense.bias"]
    assert names == want
    pre = {n for n, _ in tiny(BertForPreTraining).named_parameters()}
    assert {"cls.predictions.bias", "cls.predictions.transform.dense.weight",
            "cls.predictions.transform.LayerNorm.weight", "cls.seq_relationship.weight"} <= pre
    # the MLM decoder is the word-embedding matrix itself (tied), not a second copy
    assert not any("decoder" in n for n in pre)


def hf_reference(torch, model, ids, am, tt):
    """Hugging Face BertModel's forward, written out in torch with the same weights."""
    W = {to_hf_name(n): torch.tensor(p.numpy(), dtype=torch.float64) for n, p in model.named_parameters()}
    c = model.config
    lin = lambda x, n: x @ W[n + ".weight"].T + W[n + ".bias"]  # noqa: E731
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (x.shape[-1],), W[n + ".weight"], W[n + ".bias"],  # noqa: E731
                                                     c.layer_norm_eps)
    ids, am, tt = (torch.tensor(a) for a in (ids, am, tt))
    T = ids.shape[1]
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.token_type_embeddings.weight"][tt] \
        + W["embeddings.position_embeddings.weight"][torch.arange(T)][None]
    x = ln(x, "embeddings.LayerNorm")
    ext = (1.0 - am[:, None, None, :].double()) * torch.finfo(torch.float64).min  # HF's extended mask
    h, d = c.num_attention_heads, c.hidden_size // c.num_attention_heads
    split = lambda t: t.view(t.shape[0], T, h, d).transpose(1, 2)  # noqa: E731
    for i in range(c.num_hidden_layers):
        p = f"encoder.layer.{i}."
        q, k, v = (split(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5 + ext, -1)
        ctx = (probs @ v).transpose(1, 2).reshape(x.shape)
        a = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        inter = torch.nn.functional.gelu(lin(a, p + "intermediate.dense"))  # exact erf GELU
        x = ln(lin(inter, p + "output.dense") + a, p + "output.LayerNorm")
    return x.numpy(), torch.tanh(lin(x[:, 0], "pooler.dense")).numpy()


def test_forward_matches_hugging_face_math():
    torch = pytest.importorskip("torch")
    m = tiny().eval()
    for p in m.parameters():  # move away from the init so LayerNorm/bias terms matter
        p.array = p.array + ms.backend.asarray(np.random.default_rng(1).standard_normal(p.shape).astype(np.float32) * 0.3)
    ids, am, tt = batch()
    out = m(ids, am, tt)
    seq, pooled = out.last_hidden_state, out.pooler_output
    rseq, rpool = hf_reference(torch, m, ids, am, tt)
    np.testing.assert_allclose(seq.numpy(), rseq, atol=1e-5)  # every position, padding included
    np.testing.assert_allclose(pooled.numpy(), rpool, atol=1e-5)


def test_forward_matches_transformers_if_installed():
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    m = tiny().eval()
    ref = transformers.BertModel(transformers.BertConfig(**CFG)).eval()
    ref.load_state_dict({to_hf_name(n): torch.tensor(p.numpy()) for n, p in m.state_dict().items()}, strict=False)
    ids, am, tt = batch()
    out = ref(torch.tensor(ids), torch.tensor(am), torch.tensor(tt))
    np.testing.assert_allclose(m(ids, am, tt).last_hidden_state.numpy(), out.last_hidden_state.detach().numpy(), atol=1e-5)


def test_pretraining_loss_and_gradients_match_torch():
    torch = pytest.importorskip("torch")
    m = tiny(BertForPreTraining)
    ids, am, tt = batch()
    labels = np.full(ids.shape, -100)
    labels[0, [1, 4]] = ids[0, [1, 4]]
    labels[1, 2] = ids[1, 2]
    sl = np.array([0, 1, 1])
    out = m(ids, am, tt, labels=labels, sentence_label=sl)
    out.loss.backward()
    # reference: full (B, T, V) logits, cross-entropy with ignore_index, as HF computes it
    W = {n: torch.tensor(p.numpy(), dtype=torch.float64, requires_grad=True) for n, p in m.named_parameters()}
    c = m.config
    # the encoder is checked above; here the heads, on the same hidden states
    seq = torch.tensor(m.bert(ids, am, tt).last_hidden_state.numpy(), dtype=torch.float64)
    pooled = torch.tanh(seq[:, 0] @ W["bert.pooler.dense.weight"].T + W["bert.pooler.dense.bias"])
    t = torch.nn.functional.gelu(seq @ W["cls.predictions.transform.dense.weight"].T
                                 + W["cls.predictions.transform.dense.bias"])
    t = torch.nn.functional.layer_norm(t, (16,), W["cls.predictions.transform.LayerNorm.weight"],
                                       W["cls.predictions.transform.LayerNorm.bias"], c.layer_norm_eps)
    logits = t @ W["bert.embeddings.word_embeddings.weight"].T + W["cls.predictions.bias"]
    mlm = torch.nn.functional.cross_entropy(logits.reshape(-1, 40), torch.tensor(labels).reshape(-1))
    sop = torch.nn.functional.cross_entropy(pooled @ W["cls.seq_relationship.weight"].T
                                            + W["cls.seq_relationship.bias"], torch.tensor(sl))
    assert out.mlm_loss.item() == pytest.approx(mlm.item(), rel=1e-5)
    assert out.loss.item() == pytest.approx((mlm + sop).item(), rel=1e-5)
    (mlm + sop).backward()
    P = dict(m.named_parameters())
    for n in ("cls.predictions.bias", "cls.predictions.transform.dense.weight", "cls.seq_relationship.weight"):
        np.testing.assert_allclose(npy(P[n].grad), W[n].grad.numpy(), atol=1e-6, err_msg=n)
    # the tied embedding gets gradient from both the input side and the MLM decoder
    assert np.abs(npy(P["bert.embeddings.word_embeddings.weight"].grad)).sum() > \
        np.abs(W["bert.embeddings.word_embeddings.weight"].grad.numpy()).sum() * 0.99


def test_padding_does_not_change_real_positions():
    m = tiny().eval()
    ids, am, tt = batch()
    wide = [np.pad(a, ((0, 0), (0, 7))) for a in (ids, am, tt)]
    a, b = m(ids, am, tt).last_hidden_state.numpy(), m(*wide).last_hidden_state.numpy()
    for i, n in enumerate(am.sum(1)):
        np.testing.assert_allclose(a[i, :n], b[i, :n], atol=1e-5)


def test_hidden_states_and_attentions():
    m = tiny().eval()
    ids, am, tt = batch()
    out = m(ids, am, tt, output_attentions=True)
    assert len(out.hidden_states) == 3 and out.hidden_states[-1] is out.last_hidden_state
    assert len(out.attentions) == 2 and out.attentions[0].shape == (3, 4, 9, 9)
    assert np.all(out.attentions[1].numpy()[2, :, :, 3:] == 0)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        m(np.ones((1, 40), np.int64))
    with pytest.raises(ValueError, match="attention_mask shape"):
        m(ids, am[:, :4])


def test_heads_shapes_and_qa_loss():
    ids, am, tt = batch()
    assert tiny(BertForSequenceClassification, num_labels=3)(ids, am, tt).logits.shape == (3, 3)
    tok = tiny(BertForTokenClassification, num_labels=5)
    labels = np.where(am == 1, 2, -100)
    assert tok(ids, am, tt, labels=labels).logits.shape == (3, 9, 5)
    qa = tiny(BertForQuestionAnswering)
    s, e = np.array([1, 2, 0]), np.array([3, 2, 1])
    out = qa(ids, am, tt, start_positions=s, end_positions=e)

    def ce(logits, y):
        z = logits - logits.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))
    want = (ce(out.start_logits.numpy(), s) + ce(out.end_logits.numpy(), e)) / 2
    assert out.loss.item() == pytest.approx(want, rel=1e-5)
    assert out.start_logits.numpy()[2, 5] < -1e3  # padding cannot be an answer


def test_best_span_against_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.standard_normal(12), rng.standard_normal(12)
        allowed = rng.random(12) < 0.7
        allowed[3] = True
        best = max((a[i] + b[j], i, j) for i in range(12) for j in range(i, min(12, i + 4))
                   if allowed[i] and allowed[j])
        s, e, score = best_span(a, b, allowed, max_answer_len=4)
        assert (s, e) == best[1:] and score == pytest.approx(best[0])


def test_qa_windows_overlap_and_cover_the_answer():
    ctx = list(range(100, 150))
    ws = qa_windows([7, 8], ctx, cls_id=2, sep_id=3, max_length=20, doc_stride=5, answer=(30, 31))
    assert all(len(w["input_ids"]) <= 20 for w in ws)
    covered = sorted({w["first"] + i for w in ws for i in range(w["n"])})
    assert covered == list(range(50))
    hits = [w for w in ws if w["start_position"] > 0]
    assert hits and all(w["input_ids"][w["start_position"]] == 130 and w["input_ids"][w["end_position"]] == 131
                        for w in hits)
    ids, tt, am, s, e = pad_windows(ws)
    assert ids.shape == (len(ws), 20) and tt[0, 4] == 1 and tt[0, 3] == 0
    with pytest.raises(ValueError, match="doc_stride"):
        qa_windows([1], ctx, cls_id=2, sep_id=3, max_length=10, doc_stride=9)


def test_save_and_load_round_trip(tmp_path):
    m = tiny(BertForPreTraining)
    ids, am, tt = batch()
    m.save_pretrained(tmp_path / "ckpt")
    cfg = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert cfg["hidden_size"] == 16 and cfg["minissl_class"] == "BertForPreTraining"
    back = BertForPreTraining.from_pretrained(tmp_path / "ckpt")
    np.testing.assert_array_equal(back.eval()(ids, am, tt).prediction_logits.numpy(),
                                  m.eval()(ids, am, tt).prediction_logits.numpy())
    # a fine-tuning model takes the encoder from the pre-training checkpoint; its head is new
    clf = BertForSequenceClassification.from_pretrained(tmp_path / "ckpt", num_labels=3)
    np.testing.assert_array_equal(clf.bert.encoder.layer[1].mlp.fc2.weight.numpy(),
                                  m.bert.encoder.layer[1].mlp.fc2.weight.numpy())
    assert clf.classifier.weight.shape == (3, 16)
    clf.save_pretrained(tmp_path / "clf")
    assert BertForSequenceClassification.from_pretrained(tmp_path / "clf").num_labels == 3
    # a failed load changes nothing
    other = BertModel(BertConfig(**dict(CFG, hidden_size=8, num_attention_heads=2)))
    before = {n: p.numpy().copy() for n, p in other.named_parameters()}
    with pytest.raises(RuntimeError, match="shape"):
        other.load_pretrained(tmp_path / "ckpt", strict=False)
    assert all(np.array_equal(before[n], p.numpy()) for n, p in other.named_parameters())
    with pytest.raises(FileNotFoundError, match="config.json"):
        BertModel.from_pretrained(tmp_path / "nothing")
    assert not [f for f in os.listdir(tmp_path / "ckpt") if f.endswith(".tmp")]


def test_config_ignores_unknown_keys_and_checks_heads():
    c = BertConfig.from_dict({"hidden_size": 32, "num_attention_heads": 4, "architectures": ["BertModel"]})
    assert c.hidden_size == 32 and c.layer_norm_eps == 1e-12 and c.hidden_act == "gelu"
    with pytest.raises(ValueError, match="divisible"):
        BertConfig(hidden_size=30, num_attention_heads=4)


@pytest.mark.slow
def test_pretraining_learns_to_fill_blanks():
    from minissl.optim import AdamW
    m = tiny(BertForPreTraining)
    opt = AdamW(m.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    # a deterministic language: every sequence counts up, so a masked token is its left neighbour + 1
    losses = []
    for step in range(400):
        start = rng.integers(5, 25, 16)
        ids = start[:, None] + np.arange(12)
        labels = np.where(rng.random(ids.shape) < 0.15, ids, -100)
        inp = np.where(labels != -100, 4, ids)
        loss = m(inp, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # chance is ln 40 = 3.7 nats; a model that reads its neighbours gets far below
    assert np.mean(losses[:10]) > 3.3 and np.mean(losses[-20:]) < 1.6
