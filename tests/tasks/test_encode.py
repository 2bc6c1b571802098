"""encode_task: the tokenizer's pair layout, one label per word on its first piece, batches as if padded alone."""
import numpy as np
import pytest

import minissl as ms
from minissl.models.bert import BertConfig
from minissl.models.bert_heads import BertForSequenceClassification
from minissl.tasks import Task, encode_task, grammar_tokenizer, load_task
from minissl.text import WordPieceTokenizer, pad_batch
from minissl.train import take

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "dog", "cat", "play", "##ing", "##s", "runs", "."]


def test_pairs_are_cls_a_sep_b_sep_with_segment_ids():
    tok = grammar_tokenizer()
    task = load_task("nli", n_train=20, n_dev=0, n_test=0, seed=1)
    enc = encode_task(tok, task, task.train)
    for i, ex in enumerate(task.train):
        a, b = (tok.convert_tokens_to_ids(ex[f].split()) for f in ("premise", "hypothesis"))
        n = len(a) + len(b) + 3
        assert list(enc["input_ids"][i, :n]) == [tok.cls_token_id] + a + [tok.sep_token_id] + b + [tok.sep_token_id]
        assert list(enc["token_type_ids"][i, :n]) == [0] * (len(a) + 2) + [1] * (len(b) + 1)
        assert enc["attention_mask"][i].sum() == n and (enc["input_ids"][i, n:] == tok.pad_token_id).all()
    assert list(enc["labels"]) == [ex["label"] for ex in task.train] and enc["labels"].dtype == np.int64


def test_without_token_type_ids_every_token_is_type_0():
    tok = grammar_tokenizer()
    task = load_task("nli", n_train=6, n_dev=0, n_test=0, seed=3)
    full, single = encode_task(tok, task, task.train), encode_task(tok, task, task.train, token_type_ids=False)
    assert set(full) - set(single) == {"token_type_ids"} and full["token_type_ids"].any()
    for k in single:
        np.testing.assert_array_equal(single[k], full[k], err_msg=k)
    ms.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=tok.vocab_size, hidden_size=8, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=16), num_labels=3)
    model.eval()
    zeros = dict(single, token_type_ids=np.zeros_like(full["token_type_ids"]))
    np.testing.assert_array_equal(model(**single).logits.numpy(), model(**zeros).logits.numpy())
    assert not np.allclose(model(**single).logits.numpy(), model(**full).logits.numpy())


def test_tags_go_on_the_first_piece_of_each_word():
    tok = WordPieceTokenizer(VOCAB)
    task = Task("pos", "tagging", [], [], [], label_names=["DET", "NOUN", "VERB", "PUNCT"])
    examples = [{"tokens": ["the", "dogs", "playing", "."], "tags": ["DET", "NOUN", "VERB", "PUNCT"]},
                {"tokens": ["cat", "runs"], "tags": ["NOUN", "VERB"]}]
    enc = encode_task(tok, task, examples)
    # [CLS] the dog ##s play ##ing . [SEP]
    assert tok.convert_ids_to_tokens(enc["input_ids"][0]) == ["[CLS]", "the", "dog", "##s", "play", "##ing", ".",
                                                               "[SEP]"]
    assert list(enc["labels"][0]) == [-100, 0, 1, -100, 2, -100, 3, -100]
    assert list(enc["labels"][1]) == [-100, 1, 2, -100, -100, -100, -100, -100]  # padding is ignored too
    with pytest.raises(ValueError, match="one label per word"):
        encode_task(tok, task, [{"tokens": ["the", "dog"], "tags": ["DET"]}])


def test_take_is_the_rows_padded_alone():
    tok = grammar_tokenizer()
    task = load_task("sentiment", n_train=50, n_dev=0, n_test=0, seed=2)
    enc = encode_task(tok, task, task.train)
    rows = [3, 17, 40, 8]
    alone = encode_task(tok, task, [task.train[i] for i in rows])
    got = take(enc, rows)
    assert got.keys() == alone.keys()
    for k in alone:
        np.testing.assert_array_equal(got[k], alone[k], err_msg=k)
    ids, _ = pad_batch([tok.encode(task.train[i]["text"]) for i in rows], tok.pad_token_id)
    np.testing.assert_array_equal(got["input_ids"], ids)


def test_tasks_it_cannot_encode_say_what_to_use():
    tok = grammar_tokenizer()
    with pytest.raises(ValueError, match="qa_windows"):
        encode_task(tok, load_task("qa", 2, 0, 0), [])
    with pytest.raises(ValueError, match="not a classification"):
        encode_task(tok, load_task("negation", 2, 0, 0), [])
    with pytest.raises(ValueError, match="no sentiment examples"):
        encode_task(tok, load_task("sentiment", 2, 0, 0), [])
