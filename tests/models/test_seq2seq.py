"""Seq2seq model: shapes, causality, cross-attention, decoding, objectives, gradients."""
import functools

import numpy as np
import pytest

import minissl as ms
from minissl import nn
from minissl.models.seq2seq import Seq2SeqTransformer
from minissl.models.seq2seq_decode import beam_search, generate, greedy_search
from minissl.text.denoising import NOISES, DenoisingObjective, mass_batch, seq2seq_batch
from minissl.optim import Adam

PAD, BOS, EOS, MASK = 0, 2, 3, 4


def tiny(vocab=11, d=8, nhead=2, ff=16, layers=1, dropout=0.0, **kw):
    return Seq2SeqTransformer(vocab, d, nhead, layers, layers, ff, dropout, max_position=32, pad_id=PAD, **kw)


@functools.lru_cache(maxsize=None)
def trained(norm_first=False, steps=60):
    """A tiny model half-trained to reverse its input: its outputs vary from token to token,
    depend on the input, and sometimes stop at [EOS] (a fresh model repeats one token)."""
    ms.manual_seed(0)
    rng = np.random.default_rng(0)
    m = Seq2SeqTransformer(11, 16, 2, 2, 2, 32, 0.0, max_position=32, norm_first=norm_first)
    opt = Adam(m.parameters(), lr=1e-2)
    for _ in range(steps):
        seqs = [list(rng.integers(5, 11, size=rng.integers(2, 9))) for _ in range(16)]
        loss = m(**seq2seq_batch([(s, s[::-1]) for s in seqs], PAD, BOS, EOS)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def src_batch(rng, b=3, s=6, vocab=11):
    ids = rng.integers(5, vocab, size=(b, s))
    mask = np.ones((b, s), dtype=np.int64)
    mask[1, 4:] = 0  # one padded example
    ids[mask == 0] = PAD
    return ids, mask


def test_shapes_and_padding_keys_ignored():
    rng = np.random.default_rng(0)
    m = tiny().eval()
    ids, mask = src_batch(rng)
    dec = rng.integers(5, 11, size=(3, 5))
    assert m.encode(ids, mask).shape == (3, 6, 8)
    logits = m(ids, dec, mask).logits
    assert logits.shape == (3, 5, 11)
    ids2 = ids.copy()
    ids2[1, 4:] = 7  # change only padded encoder tokens: the decoder must not see them
    np.testing.assert_allclose(m(ids2, dec, mask).logits.numpy()[1], logits.numpy()[1], atol=1e-6)


def test_decoder_is_causal():
    """Changing decoder token j changes the logits at positions >= j only."""
    rng = np.random.default_rng(1)
    m = tiny(layers=2).eval()
    ids, mask = src_batch(rng)
    dec = rng.integers(5, 11, size=(3, 6))
    base = m(ids, dec, mask).logits.numpy()
    j = 3
    dec2 = dec.copy()
    dec2[:, j] = np.where(dec[:, j] == 5, 6, 5)
    new = m(ids, dec2, mask).logits.numpy()
    np.testing.assert_allclose(new[:, :j], base[:, :j], atol=1e-6)
    assert np.abs(new[:, j:] - base[:, j:]).max() > 1e-3


def test_cross_attention_reads_encoder_output():
    rng = np.random.default_rng(2)
    m = tiny().eval()
    ids, mask = src_batch(rng)
    dec = rng.integers(5, 11, size=(3, 4))
    memory = m.encode(ids, mask)
    a = m.decode(dec, memory, mask).numpy()
    b = m.decode(dec, ms.tensor(memory.numpy() + rng.normal(size=memory.shape).astype(np.float32)), mask).numpy()
    assert np.abs(a - b).max() > 1e-2  # a different memory changes every position's output
    assert (np.abs(a - b).max(axis=-1) > 1e-4).all()


def test_decoder_layer_matches_torch():
    """The block with cross-attention (post-LN) against torch.nn.TransformerDecoderLayer, same weights."""
    torch = pytest.importorskip("torch")
    d, h, ff = 8, 2, 16
    layer = nn.TransformerBlock(d, h, ff, dropout=0.0, cross_attention=True).eval()
    ref = torch.nn.TransformerDecoderLayer(d, h, ff, dropout=0.0, activation="gelu", batch_first=True,
                                           layer_norm_eps=1e-5).eval()
    t = lambda a: torch.tensor(a.numpy(), dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        for ours, theirs in ((layer.attn, ref.self_attn), (layer.cross_attn, ref.multihead_attn)):
            theirs.in_proj_weight.copy_(torch.cat([t(ours.q_proj.weight), t(ours.k_proj.weight), t(ours.v_proj.weight)]))
            theirs.in_proj_bias.copy_(torch.cat([t(ours.q_proj.bias), t(ours.k_proj.bias), t(ours.v_proj.bias)]))
            theirs.out_proj.weight.copy_(t(ours.out_proj.weight))
            theirs.out_proj.bias.copy_(t(ours.out_proj.bias))
        ref.linear1.weight.copy_(t(layer.mlp.fc1.weight)), ref.linear1.bias.copy_(t(layer.mlp.fc1.bias))
        ref.linear2.weight.copy_(t(layer.mlp.fc2.weight)), ref.linear2.bias.copy_(t(layer.mlp.fc2.bias))
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, d)).astype(np.float32)
    mem = rng.normal(size=(2, 7, d)).astype(np.float32)
    pad = np.zeros((2, 7), dtype=bool)
    pad[0, 5:] = True
    ours = layer(ms.tensor(x), is_causal=True, memory=ms.tensor(mem), memory_mask=~pad[:, None, None, :])[0].numpy()
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5)
    theirs = ref(torch.tensor(x), torch.tensor(mem), tgt_mask=causal, memory_key_padding_mask=torch.tensor(pad))
    np.testing.assert_allclose(ours, theirs.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_kv_cache_is_token_identical(norm_first):
    rng = np.random.default_rng(4)
    m = trained(norm_first)
    ids, mask = src_batch(rng, b=4)
    kw = dict(bos_id=BOS, eos_id=EOS, max_new_tokens=12)
    cached, plain = greedy_search(m, ids, mask, **kw), greedy_search(m, ids, mask, use_cache=False, **kw)
    assert cached == plain
    assert len({t for row in cached for t in row}) > 2  # a real sequence, not one repeated token
    assert beam_search(m, ids, mask, num_beams=3, **kw) == beam_search(m, ids, mask, num_beams=3,
                                                                       use_cache=False, **kw)


def test_cached_logits_equal_full_logits():
    rng = np.random.default_rng(5)
    m = tiny(layers=2).eval()
    ids, mask = src_batch(rng)
    dec = rng.integers(5, 11, size=(3, 5))
    memory = m.encode(ids, mask)
    full = m.decode(dec, memory, mask).numpy()
    cache = m.new_cache()
    steps = [m.decode(dec[:, t:t + 1], memory, mask, np.full((3, 1), t), cache).numpy() for t in range(5)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_beam_width_one_is_greedy():
    rng = np.random.default_rng(6)
    m = trained()
    ids, mask = src_batch(rng, b=8)
    # a cap that some outputs reach and others stop before, at [EOS] (which lengths those are
    # depends on the generator's stream: NumPy's on the CPU, CuPy's on a GPU)
    lengths = [len(g) for g in greedy_search(m, ids, mask, bos_id=BOS, eos_id=EOS, max_new_tokens=16)]
    assert min(lengths) < max(lengths), lengths
    kw = dict(bos_id=BOS, eos_id=EOS, max_new_tokens=max(lengths))
    greedy = greedy_search(m, ids, mask, **kw)
    assert beam_search(m, ids, mask, num_beams=1, **kw) == greedy
    assert generate(m, ids, mask, num_beams=1, **kw) == greedy
    assert any(len(g) < max(lengths) for g in greedy) and any(len(g) == max(lengths) for g in greedy)


def test_beam_search_finds_better_sequence_than_greedy():
    """Beam search maximises total log-probability: its output never scores below greedy's."""
    rng = np.random.default_rng(7)
    m = trained(steps=25)
    ids, mask = src_batch(rng, b=8)

    def logprob(i, seq):
        dec = np.array([[BOS] + seq])
        logits = m(ids[i:i + 1], dec, mask[i:i + 1]).logits.numpy()[0]
        z = logits - logits.max(-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        return sum(logp[t, tok] for t, tok in enumerate(seq + [EOS]))

    kw = dict(bos_id=BOS, eos_id=EOS, max_new_tokens=30)
    greedy = greedy_search(m, ids, mask, **kw)
    beam = beam_search(m, ids, mask, num_beams=4, length_penalty=0.0, **kw)
    better = 0
    for i in range(8):
        if len(greedy[i]) < 30 and len(beam[i]) < 30:
            better += logprob(i, beam[i]) > logprob(i, greedy[i]) + 1e-3
            assert logprob(i, beam[i]) >= logprob(i, greedy[i]) - 1e-5
    assert better > 0  # on some input the wider search found a more probable output


def test_seq2seq_batch_shifts_target():
    b = seq2seq_batch([([7, 8, 9], [5, 6]), ([7], [5, 6, 7])], PAD, BOS, EOS)
    np.testing.assert_array_equal(b["input_ids"], [[7, 8, 9], [7, 0, 0]])
    np.testing.assert_array_equal(b["attention_mask"], [[1, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(b["decoder_input_ids"], [[BOS, 5, 6, 0], [BOS, 5, 6, 7]])
    np.testing.assert_array_equal(b["labels"], [[5, 6, EOS, -100], [5, 6, 7, EOS]])


def test_mass_target_is_exactly_the_masked_span():
    rng = np.random.default_rng(8)
    seqs = [list(range(10, 10 + n)) for n in (8, 5, 11)]
    b = mass_batch(seqs, MASK, PAD, rng)
    for i, s in enumerate(seqs):
        start = int(b["decoder_position_ids"][i, 0])
        end = start + int((b["labels"][i] != -100).sum())  # the labels are the span
        assert end - start == round(0.5 * len(s))
        enc = b["input_ids"][i, :len(s)]
        masked = np.flatnonzero(enc == MASK)
        np.testing.assert_array_equal(masked, np.arange(start, end))  # exactly one contiguous span
        np.testing.assert_array_equal(np.delete(enc, masked), np.delete(s, masked))  # the rest is intact
        labels = b["labels"][i][b["labels"][i] != -100]
        np.testing.assert_array_equal(labels, s[start:end])
        np.testing.assert_array_equal(b["decoder_input_ids"][i, :end - start], [MASK] + s[start:end - 1])
        np.testing.assert_array_equal(b["decoder_position_ids"][i, :end - start], np.arange(start, end))


@pytest.mark.parametrize("name", NOISES)
def test_every_objective_makes_a_trainable_batch(name):
    docs = [[[10, 11, 12, 13, 14], [15, 16, 17]], [[18, 19, 20], [21, 22, 23, 24]]]
    obj = DenoisingObjective(name, MASK, PAD, BOS, EOS, seed=0)
    b = obj(docs)
    labels = [row[row != -100].tolist() for row in b["labels"]]
    flat = [[t for s in d for t in s] for d in docs]
    if name == "mass":
        assert all(0 < len(lab) < len(f) for lab, f in zip(labels, flat))
    else:  # BART: the decoder writes the whole clean document, then [EOS]
        assert labels == [f + [EOS] for f in flat]
    m = tiny(vocab=25)
    assert np.isfinite(m(**b).loss.item())


def test_unknown_objective_and_long_input_fail_clearly():
    with pytest.raises(ValueError, match="unknown objective"):
        DenoisingObjective("shuffle", MASK, PAD, BOS, EOS)
    m = tiny()
    with pytest.raises(ValueError, match="max_position"):
        m.encode(np.full((1, 40), 5))


def test_gradcheck_tiny_encoder_decoder_loss():
    m = tiny(vocab=7, d=4, nhead=2, ff=6, layers=1)
    for p in m.parameters():
        p.array = p.array.astype(np.float64) * (1 if p.ndim == 1 else 20)  # float64; embeddings away from tiny
    batch = seq2seq_batch([([5, 6, 5], [6, 5]), ([6], [5, 5, 6])], PAD, BOS, EOS)
    # Also checks that padding never reaches the loss: the [PAD] row of the shared
    # embedding gets no gradient from lookups (padding_idx), so any leak would show here.
    params = list(m.parameters())
    assert ms.gradcheck(lambda *ps: m(**batch).loss, params, atol=1e-6, rtol=1e-4)


def test_tiny_model_overfits_and_restores():
    rng = np.random.default_rng(9)
    docs = [[list(rng.integers(5, 20, size=6))] for _ in range(8)]
    obj = DenoisingObjective("infill", MASK, PAD, BOS, EOS, seed=0)
    m = Seq2SeqTransformer(20, 32, 4, 1, 1, 64, 0.0, max_position=16)
    opt = Adam(m.parameters(), lr=3e-3)
    for _ in range(300):
        loss = m(**obj(docs)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    clean = [[int(t) for t in d[0]] for d in docs]
    b = seq2seq_batch([(c, c) for c in clean], PAD, BOS, EOS)  # no noise: must copy exactly
    assert greedy_search(m, b["input_ids"], b["attention_mask"], bos_id=BOS, eos_id=EOS, max_new_tokens=10) == clean
