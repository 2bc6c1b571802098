"""T5 text-to-text framing: prefixes and answers, sentinels, mixed batches, a tiny multi-task fit, scoring."""
import numpy as np
import pytest

import minissl as ms
from minissl.models.seq2seq import Seq2SeqTransformer
from minissl.models.t5 import (LABEL_WORDS, TASKS, answer, encode, encode_pairs, framing_words, mixed_batches, score,
                               span_corruption_batch, special_ids, t5_tokenizer, to_text)
from minissl.optim import Adam
from minissl.tasks import load_task
from minissl.text import sentinel_tokens


@pytest.fixture(scope="module")
def tok():
    return t5_tokenizer(n_sentinels=8)


def test_each_task_is_framed_with_its_prefix_and_answered_in_words():
    ex = {"text": "the dog was not happy .", "label": 0}
    assert to_text("sentiment", ex) == ("sentiment: the dog was not happy .", "negative")
    ex = {"premise": "the boy ate the cake .", "hypothesis": "the person ate the cake .", "label": 0}
    assert to_text("nli", ex) == ("nli premise: the boy ate the cake . hypothesis: the person ate the cake .",
                                  "entailment")
    assert to_text("nli", dict(ex, label=2))[1] == "contradiction"
    ex = {"source": "the fox ate the pear .", "target": "the fox did not eat the pear ."}
    assert to_text("negation", ex) == ("negate: the fox ate the pear .", "the fox did not eat the pear .")
    ex = {"context": "the cat slept . the girl ate the cake .", "question": "who ate the cake ?",
          "answer_text": "girl", "answer_start": 16}
    assert to_text("qa", ex) == ("qa question: who ate the cake ? context: the cat slept . the girl ate the cake .",
                                 "girl")
    with pytest.raises(ValueError, match="no text-to-text framing for task 'pos'"):
        to_text("pos", {"tokens": [], "tags": []})


def test_generated_examples_frame_consistently():
    for name in TASKS:
        for ex in load_task(name, 30, 0, 0, seed=1).train:
            src, tgt = to_text(name, ex)
            assert src.split()[0].rstrip(":") in ("sentiment", "nli", "negate", "qa")
            if name in LABEL_WORDS:
                assert tgt == LABEL_WORDS[name][ex["label"]]
            if name == "qa":  # the answer is a word of the context
                assert tgt in src.split(" context: ")[1].split()


def test_every_framing_word_and_sentinel_is_one_token(tok):
    for w in framing_words() + sentinel_tokens(8):
        assert tok.tokenize(w) == [w]
    assert tok.tokenize("a <extra_id_3> dog") == ["a", "<extra_id_3>", "dog"]  # a special token is never split
    ids = special_ids(tok)
    assert ids["sentinels"] == tok.convert_tokens_to_ids(sentinel_tokens(8))
    for name in TASKS:  # no [UNK] anywhere: the grammar's words and the framing's are all in the vocabulary
        for src, tgt in encode_pairs(tok, name, load_task(name, 20, 0, 0, seed=2).train):
            assert tok.unk_token_id not in src + tgt
    with pytest.raises(ValueError, match="no T5 sentinels"):
        from minissl.tasks import grammar_tokenizer
        special_ids(grammar_tokenizer())


def test_span_corruption_batch_holds_the_whole_text_and_its_sentinels(tok):
    ids = special_ids(tok)
    doc = encode(tok, "there was a dog in the park . the dog was happy . then the dog ate the cake near the lake .")
    b = span_corruption_batch([doc], ids, np.random.default_rng(0))
    inp = [int(t) for t in b["input_ids"][0] if t != ids["pad"]]
    tgt = [int(t) for t in b["labels"][0] if t != -100][:-1]  # without [EOS]
    assert b["labels"][0][len(tgt)] == ids["eos"] and b["decoder_input_ids"][0][0] == ids["bos"]
    spans, cur = {}, None
    for t in tgt:
        if t in ids["sentinels"]:
            cur = spans.setdefault(t, [])
        else:
            cur.append(t)
    restored = [x for t in inp for x in (spans[t] if t in ids["sentinels"] else [t])]
    assert restored == doc
    assert len(tgt) - len(spans) == round(0.15 * len(doc))  # the noise tokens: 15% of the text


def test_mixed_batches_mix_the_tasks_in_proportion(tok):
    ids = special_ids(tok)
    pairs = {"a": [([5, 6], [7])] * 60, "b": [([8], [9])] * 30, "c": [([10], [11, 12])] * 30}
    batches, tasks = mixed_batches(pairs, 12, 10, np.random.default_rng(0), ids)  # 120 rows: one pass over the pool
    assert len(batches) == len(tasks) == 10 and all(len(t) == 12 for t in tasks)
    assert sum(len(set(t)) > 1 for t in tasks) >= 9  # nearly every batch mixes tasks
    np.testing.assert_array_equal(np.bincount(np.concatenate(tasks), minlength=3), [60, 30, 30])  # each example once
    for b, t in zip(batches, tasks):  # each row's inputs are those of the task it is labelled with
        for row, k in zip(b["input_ids"], t):
            assert int(row[0]) == (5, 8, 10)[k]
    longer, _ = mixed_batches(pairs, 12, 25, np.random.default_rng(0), ids)  # more steps than one pass: reshuffled
    assert len(longer) == 25
    with pytest.raises(ValueError, match="no examples"):
        mixed_batches({"a": []}, 4, 2, np.random.default_rng(0), ids)


def test_score_counts_an_answer_outside_the_label_words_as_wrong():
    s = score(["positive", "negative", "happy", " negative "], ["positive", "positive", "negative", "negative"],
              LABEL_WORDS["sentiment"])
    assert s == {"exact_match": 0.5, "outside_labels": 0.25}
    assert score(["the dog did not run ."], ["the  dog did not run ."]) == {"exact_match": 1.0}
    with pytest.raises(ValueError, match="one per target"):
        score(["a"], ["a", "b"])


def test_tiny_model_learns_several_tasks_at_once_and_answers_in_label_words(tok):
    ids = special_ids(tok)
    tasks = {n: load_task(n, 12, 0, 0, seed=3).train for n in ("sentiment", "nli", "qa")}
    pairs = {n: encode_pairs(tok, n, ex) for n, ex in tasks.items()}
    ms.manual_seed(0)
    m = Seq2SeqTransformer(len(tok), 32, 4, 1, 1, 64, 0.0, max_position=96, pad_id=ids["pad"])
    opt = Adam(m.parameters(), lr=3e-3)
    losses = []
    for b in mixed_batches(pairs, 12, 120, np.random.default_rng(0), ids)[0]:
        loss = m(**b).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    assert np.mean(losses[-10:]) < 0.1 * np.mean(losses[:5])
    for n in ("sentiment", "nli"):  # memorised: the label words come back, and only label words
        src, gold = zip(*(to_text(n, e) for e in tasks[n]))
        s = score(answer(m, tok, list(src), ids), list(gold), LABEL_WORDS[n])
        assert s["exact_match"] >= 0.9 and s["outside_labels"] == 0.0, (n, s)
