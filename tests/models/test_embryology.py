"""BERT embryology: checkpoints along pre-training, read back exactly; the probes and the s90 step."""
import copy
import math
from types import SimpleNamespace

import numpy as np
import pytest

import minissl as ms
from minissl.models.bert import BertConfig, BertForPreTraining
from minissl.models.embryology import (checkpoint_steps, hidden_states, load_weights, mlm_accuracy,
                                       pretrain_with_checkpoints, probe_checkpoints, sentence_features,
                                       step_to_fraction)
from minissl.text import mlm_batches
from minissl.train import make_optimizer

npy = ms.backend.to_numpy
CFG = dict(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
           max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
MASKING = dict(mask_id=4, pad_id=0, vocab_size=30, special_ids=[0, 1, 2, 3, 4])


def corpus(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return [([2, *rng.integers(5, 30, int(rng.integers(3, 9))), 3], None, None) for _ in range(n)]


def examples():
    return [(ids, [0] * len(ids), None) for ids, _, _ in corpus()]


def trained(steps, total, directory=None, save_at=()):
    """A tiny BERT after ``steps`` of a ``total``-step schedule (seeded: the same run every time)."""
    ms.manual_seed(0)
    model = BertForPreTraining(BertConfig(**CFG))
    init = copy.deepcopy({k: npy(v.array) for k, v in model.state_dict().items()})
    opt, sched = make_optimizer(model, 1e-2, warmup=1, total_steps=total)
    batches = mlm_batches(examples(), 8, np.random.default_rng(0), **MASKING)
    if directory is None:
        from minissl.train import fit
        fit(model, batches, steps, optimizer=opt, scheduler=sched, progress=False)
        return model, init, None
    paths, _ = pretrain_with_checkpoints(model, batches, steps, save_at, directory, optimizer=opt, scheduler=sched,
                                         progress=False)
    return model, init, paths


def outputs(model):
    ids = np.array([[2, 7, 9, 11, 3, 0], [2, 5, 6, 3, 0, 0]])
    am = (ids != 0).astype(np.int64)
    model.eval()
    with ms.no_grad():
        out = model(ids, am)
    return npy(out.bert.last_hidden_state.array), npy(out.seq_relationship_logits.array)


def test_checkpoints_at_the_requested_steps_reload_to_the_same_model(tmp_path):
    model, init, paths = trained(6, 6, tmp_path / "ck", save_at=[0, 2, 6])
    assert sorted(paths) == [0, 2, 6] and all((tmp_path / "ck" / f"step_{s}.npz").exists() for s in (0, 2, 6))
    fresh = BertForPreTraining(BertConfig(**CFG))
    assert load_weights(fresh, paths[6]) == 6
    for a, b in zip(outputs(model), outputs(fresh)):  # the final checkpoint is the trained model
        np.testing.assert_array_equal(a, b)
    at2, _, _ = trained(2, 6)  # the same run stopped after 2 of its 6 steps
    assert load_weights(fresh, paths[2]) == 2
    for a, b in zip(outputs(at2), outputs(fresh)):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(outputs(at2)[0], outputs(model)[0])  # training moved it: the test can tell


def test_step_zero_checkpoint_is_the_random_init(tmp_path):
    _, init, paths = trained(3, 3, tmp_path, save_at=[0, 3])
    saved = ms.load(paths[0])["model"]
    assert set(saved) == set(init)
    for k, v in init.items():
        np.testing.assert_array_equal(npy(saved[k].array), v)
    trained_state = ms.load(paths[3])["model"]
    assert any(not np.array_equal(npy(trained_state[k].array), v) for k, v in init.items())


def test_pretrain_with_checkpoints_refuses_steps_outside_the_run(tmp_path):
    ms.manual_seed(0)
    model = BertForPreTraining(BertConfig(**CFG))
    with pytest.raises(ValueError, match="save_at"):
        pretrain_with_checkpoints(model, lambda s: None, 3, [0, 5], tmp_path, progress=False)
    with pytest.raises(ValueError, match="no 'model' entry"):
        ms.save({"weights": {}}, tmp_path / "x.npz")
        load_weights(model, tmp_path / "x.npz")


def test_checkpoint_steps_are_log_spaced_from_zero_to_the_end():
    s = checkpoint_steps(1000, 5)
    assert s == [0, 1, 10, 100, 1000]  # 4 points from 1 to 1000, evenly spaced in log10
    assert checkpoint_steps(3, 8)[0] == 0 and checkpoint_steps(3, 8)[-1] == 3  # rounding repeats dropped
    assert checkpoint_steps(3, 8) == sorted(set(checkpoint_steps(3, 8)))
    with pytest.raises(ValueError):
        checkpoint_steps(100, 1)


def test_step_to_fraction_interpolates_in_log_step():
    assert step_to_fraction([0, 1, 10], [0.0, 0.5, 1.0], 0.9) == pytest.approx(10 ** 0.8)  # t = 0.8 of a decade
    assert step_to_fraction([0, 4], [0.2, 1.2], 0.9) == pytest.approx(3.6)  # first segment: linear in step
    assert step_to_fraction([0, 1, 10, 100], [0.0, 0.95, 0.97, 1.0], 0.9) == pytest.approx(0.9 / 0.95)
    assert step_to_fraction([0, 1, 10], [0.5, 0.6, 0.5], 0.9) is None  # no final gain: no time
    with pytest.raises(ValueError):
        step_to_fraction([0, 10, 1], [0, 1, 2])


def test_hidden_states_do_not_depend_on_padding_width():
    ms.manual_seed(0)
    bert = BertForPreTraining(BertConfig(**CFG)).bert
    ids = np.array([[2, 7, 9, 3, 0], [2, 5, 6, 8, 3]])
    data = dict(input_ids=ids, attention_mask=(ids != 0).astype(np.int64), token_type_ids=np.zeros_like(ids))
    wide = {k: np.pad(v, ((0, 0), (0, 3))) for k, v in data.items()}
    h, hw = npy(hidden_states(bert, data, batch_size=1)), npy(hidden_states(bert, wide))
    assert h.shape == (2, 5, 16) and hw.shape == (2, 8, 16)
    np.testing.assert_allclose(hw[0, :4], h[0, :4], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hw[1, :5], h[1], rtol=1e-5, atol=1e-6)
    bert.train()  # the caller's mode is restored
    hidden_states(bert, data)
    assert bert.training


def test_sentence_features_average_the_real_tokens_only():
    h = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    m = np.array([[1, 1, 0], [1, 1, 1]])
    np.testing.assert_allclose(npy(sentence_features(h, m)), [[1, 2], [8, 9]])


class FakeMLM:
    """Predicts the gold token at every other masked position (row-major), a wrong one elsewhere."""
    training = False

    def eval(self):
        pass

    def train(self, mode=True):
        pass

    def __call__(self, input_ids, attention_mask, token_type_ids=None, labels=None):
        gold = labels[labels != -100]
        logits = np.zeros((gold.size, 30), np.float32)
        right = np.arange(gold.size) % 2 == 0
        logits[np.arange(gold.size), np.where(right, gold, (gold + 1) % 30)] = 1
        return SimpleNamespace(prediction_logits=ms.tensor(logits))


def test_mlm_accuracy_counts_masked_tokens_only():
    lab = np.full((2, 5), -100)
    lab[0, [1, 3]], lab[1, [0, 2, 4]] = [7, 8], [9, 10, 11]
    b = dict(input_ids=np.zeros((2, 5), np.int64), attention_mask=np.ones((2, 5), np.int64), labels=lab)
    assert mlm_accuracy(FakeMLM(), [b, b]) == pytest.approx(6 / 10)  # 3 of 5 per batch, twice
    with pytest.raises(ValueError, match="no masked token"):
        mlm_accuracy(FakeMLM(), [dict(b, labels=np.full((2, 5), -100))])


def test_probe_checkpoints_reads_each_checkpoint_in_step_order(tmp_path):
    model, _, paths = trained(4, 4, tmp_path, save_at=[4, 0, 1])
    seen = []
    norm = lambda m: float(np.abs(npy(m.cls.predictions.bias.array)).sum())  # noqa: E731 - 0 at init
    out = probe_checkpoints(model, paths, {"bias": norm}, progress=seen.append)
    assert out["step"] == [0, 1, 4] == seen
    want = [float(np.abs(npy(ms.load(paths[s])["model"]["cls.predictions.bias"].array)).sum()) for s in (0, 1, 4)]
    assert out["bias"] == pytest.approx(want) and want[0] == 0 and want[2] > 0
    assert math.isfinite(out["bias"][1])
