"""BertForSequenceClassification(pooling="mean"): the masked mean of the token vectors, padding-proof."""
import numpy as np
import pytest

import minissl as ms
from minissl.models.bert import BertConfig
from minissl.models.bert_heads import BertForSequenceClassification
from minissl.models.hf_bert import mean_pooling

CFG = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=24,
           max_position_embeddings=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def inputs():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 40, (3, 9))
    am = np.ones((3, 9), np.int64)
    am[1, 6:], am[2, 3:] = 0, 0
    return np.where(am == 1, ids, 0), am


def test_mean_pooling_classifies_the_masked_mean_of_the_last_layer():
    ms.manual_seed(0)
    m = BertForSequenceClassification(BertConfig(**CFG), num_labels=3, pooling="mean").eval()
    ids, am = inputs()
    seq = m.bert(ids, am).last_hidden_state.numpy()
    want = (seq * am[:, :, None]).sum(1) / am.sum(1, keepdims=True)
    np.testing.assert_allclose(mean_pooling(m.bert(ids, am).last_hidden_state, am).numpy(), want, rtol=1e-5)
    w, b = m.classifier.weight.numpy(), m.classifier.bias.numpy()
    np.testing.assert_allclose(m(ids, am).logits.numpy(), want @ w.T + b, rtol=1e-5, atol=1e-6)
    assert not any(n.startswith("bert.pooler") for n, _ in m.named_parameters())  # no pooler to train
    # more padding changes nothing: padded positions are neither attended to nor averaged
    longer = m(np.pad(ids, ((0, 0), (0, 4))), np.pad(am, ((0, 0), (0, 4)))).logits.numpy()
    np.testing.assert_allclose(longer, m(ids, am).logits.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(m(ids).logits.numpy()[1:], m(ids, am).logits.numpy()[1:])  # without a mask: all tokens


def test_mean_pooling_trains_saves_and_refuses_hugging_faces_format(tmp_path):
    ms.manual_seed(0)
    m = BertForSequenceClassification(BertConfig(**CFG), num_labels=2, pooling="mean")
    ids, am = inputs()
    out = m(ids, am, labels=np.array([0, 1, 1]))
    out.loss.backward()
    assert np.abs(ms.backend.to_numpy(m.bert.embeddings.word_embeddings.weight.grad.array)).sum() > 0
    m.save_pretrained(tmp_path / "clf")
    back = BertForSequenceClassification.from_pretrained(tmp_path / "clf")
    assert back.pooling == "mean"
    np.testing.assert_array_equal(back.eval()(ids, am).logits.numpy(), m.eval()(ids, am).logits.numpy())
    with pytest.raises(ValueError, match="pooled"):
        m.save_pretrained(tmp_path / "hf", format="hf")
    with pytest.raises(ValueError, match="'cls' or 'mean'"):
        BertForSequenceClassification(BertConfig(**CFG), pooling="max")
