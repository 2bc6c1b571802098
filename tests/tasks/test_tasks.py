import json

import numpy as np
import pytest

from minissl.tasks import (FIELDS, TASK_NAMES, grammar_corpus, grammar_tokenizer, grammar_vocab,
                           load_task, load_task_file, make_dictionary, sense_sentences)
from minissl.tasks import lexicon as L


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_is_deterministic_disjoint_and_has_fields(name):
    t = load_task(name, n_train=60, n_dev=20, n_test=20, seed=3)
    assert (len(t.train), len(t.dev), len(t.test)) == (60, 20, 20)
    assert t.train == load_task(name, n_train=60, n_dev=20, n_test=20, seed=3).train
    keys = lambda xs: {json.dumps(x, sort_keys=True) for x in xs}
    assert keys(t.train).isdisjoint(keys(t.test))
    for ex in t.train:
        assert set(FIELDS[name]) <= set(ex)
    assert len(t.show(5).splitlines()) == 6


def test_sentiment_labels_follow_negation_and_but():
    for ex in load_task("sentiment", 300, 0, 0, seed=1).train:
        words = ex["text"].split()
        last = words[words.index("but") + 1:] if "but" in words else words
        if "and" in words:
            last = words[words.index("and") + 1:]
        adj = [w for w in last if w in L.POLARITY][-1]  # the predicate comes last
        assert ex["label"] == L.POLARITY[adj] ^ ("not" in last)


def test_qa_spans_point_at_answers():
    for ex in load_task("qa", 200, 0, 0, seed=2).train:
        s = ex["answer_start"]
        assert ex["context"][s:s + len(ex["answer_text"])] == ex["answer_text"]
        assert ex["context"].split().count(ex["answer_text"]) == 1  # one answer, no ambiguity
        q, words = ex["question"].split(), ex["context"].split()
        i = len(ex["context"][:s].split())  # the answer's word index
        if q[0] == "who":  # "who chased the dog ?": the answer is the subject of "chased the dog"
            assert words[i + 1:i + 4] == q[1:4]
        elif q[0] == "what":  # "what did the girl eat ?": the object of the girl's verb
            assert q[:3] == ["what", "did", "the"] and words[i - 1] == "the"
            verb = next(v for v in L.VERBS if v[1] == q[4])
            assert words[i - 2] == verb[0] and words[i - 3] == q[3]
            assert L.HYPERNYM[words[i]] in (verb[3], "animal", "person")
        else:  # "where did the girl eat the cake ?": the place of that event
            assert q[0] == "where" and L.HYPERNYM[words[i]] == "place" and words[i - 3] == q[6]


def test_dna_motif_decides_label():
    from minissl.tasks.generators import DNA_MOTIFS
    assert sorted(DNA_MOTIFS[0]) == sorted(DNA_MOTIFS[1])  # same bases, so counts carry no signal
    for ex in load_task("dna", 200, 0, 0).train:
        assert (DNA_MOTIFS[0] in ex["sequence"]) == (ex["label"] == 0)
        assert (DNA_MOTIFS[1] in ex["sequence"]) == (ex["label"] == 1)
        assert ex["text"].split() == [L.DNA_WORDS[b] for b in ex["sequence"]]


def test_pos_tags_align():
    for ex in load_task("pos", 200, 0, 0).train:
        assert len(ex["tokens"]) == len(ex["tags"]) and set(ex["tags"]) <= set(L.TAGS)
        for w, t in zip(ex["tokens"], ex["tags"]):
            if w in L.HYPERNYM:
                assert t == "NOUN"


def test_nli_contradiction_by_negation_or_antonym():
    """A contradiction flips the event's polarity, or says of the same subject either the opposite
    adjective or the same adjective with the opposite polarity (never both: that would entail)."""
    seen = {"event": 0, "copula": 0}
    for ex in load_task("nli", 300, 0, 0).train:
        p, h = ex["premise"].split(), ex["hypothesis"].split()
        flipped = ("not" in p) != ("not" in h)
        if "was" not in p:  # an event
            if ex["label"] == 0:  # entailment keeps the polarity of events
                assert not flipped
            if ex["label"] == 2:
                assert flipped, ex
                seen["event"] += 1
        elif ex["label"] == 2:  # "the dog was (not) happy ."
            assert p[:p.index("was")] == h[:h.index("was")], ex  # the same subject
            antonym = L.ANTONYM[p[-2]] == h[-2]
            assert antonym != flipped and (antonym or p[-2] == h[-2]), ex
            seen["copula"] += 1
    assert min(seen.values()) > 20  # both kinds of contradiction were checked


def test_grammar_tokenizer_covers_corpus_one_token_per_word():
    tok = grammar_tokenizer()
    docs = grammar_corpus(200, seed=0)
    assert len(docs) == 200 and all(len(d) >= 2 for d in docs)
    for d in docs[:50]:
        for s in d:
            assert tok.tokenize(s) == s.split()


def test_language_b_is_disjoint_with_gold_dictionary():
    d = make_dictionary()
    a_words, b_words = set(grammar_vocab("a")), set(grammar_vocab("b"))
    shared = a_words & b_words
    assert shared == set(L.PUNCT)  # only punctuation is a shared anchor
    assert len(set(d.values())) == len(d)
    t = load_task("bilingual", 20, 0, 0)
    for ex in t.train:
        assert set(ex["target"].split()) <= b_words
    sent_b = load_task("sentiment", 20, 0, 0, language="b")
    sent_a = load_task("sentiment", 20, 0, 0)
    assert [e["label"] for e in sent_a.train] == [e["label"] for e in sent_b.train]
    inv = {v: k for k, v in d.items()}
    assert [" ".join(inv[w] for w in e["text"].split()) for e in sent_b.train] == \
        [e["text"] for e in sent_a.train]
    sov = grammar_corpus(3, seed=0, language="b", word_order="SOV")
    assert set(w for doc in sov for s in doc for w in s.split()) <= b_words


def test_sense_sentences():
    exs = sense_sentences(100, seed=0, word="bank")
    assert {e["sense"] for e in exs} == {"river", "money"}
    for e in exs:
        assert e["text"].split()[e["position"]] == "bank"
        if {"river", "grass", "swam"} & set(e["text"].split()):
            assert e["sense"] == "river"


def test_negation_task_toggles_not():
    for ex in load_task("negation", 100, 0, 0).train:
        assert (ex["source"].split().count("not") + ex["target"].split().count("not")) == 1


def test_user_files(tmp_path):
    (tmp_path / "s.tsv").write_text("text\tlabel\ngreat movie\tpositive\nbad\t0\n", encoding="utf-8")
    rows = load_task_file(tmp_path / "s.tsv", "sentiment")
    assert rows == [{"text": "great movie", "label": 1}, {"text": "bad", "label": 0}]
    (tmp_path / "p.jsonl").write_text('{"tokens": ["a", "dog"], "tags": ["DET", "NOUN"]}\n', encoding="utf-8")
    assert load_task_file(tmp_path / "p.jsonl", "pos")[0]["tags"] == ["DET", "NOUN"]
    (tmp_path / "bad.tsv").write_text("text\nhello\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks field"):
        load_task_file(tmp_path / "bad.tsv", "sentiment")
    with pytest.raises(ValueError, match="unknown task"):
        load_task("parsing")


def test_mood_story_judgements_agree_with_the_mood():
    """Every judgement of the protagonist has clause polarity = mood (adjective flipped by
    "not"); after "but" the other subject has the opposite polarity, after "and" the same."""
    import numpy as np
    from minissl.tasks import lexicon as L
    from minissl.tasks.corpus import mood_story
    from minissl.tasks.grammar import Language
    rng, lang, seen_not = np.random.default_rng(0), Language(), 0
    for _ in range(200):
        mood = int(rng.integers(2))
        sents = mood_story(rng, 6, mood)
        hero = sents[0].clauses[0].info["subj"] if sents[0].clauses[0].info else lang.text(sents[0]).split()[3]
        for s in sents[1:]:
            pols = [L.POLARITY[c.info["adj"]] ^ c.info["neg"] for c in s.clauses if c.info.get("kind") == "copula"]
            seen_not += sum(c.info.get("neg", False) for c in s.clauses if c.info.get("kind") == "copula")
            if not pols:
                continue
            assert pols[-1] == mood and s.clauses[-1].info["subj"] == hero
            if len(pols) == 2:
                assert pols[0] == (1 - mood if s.conj[0][0] == "but" else mood)
    assert 30 < seen_not < 250  # some negation (p_neg 0.1 of ~1,250 judgements), not half


def test_grammar_corpus_mood_is_opt_in():
    plain, moody = grammar_corpus(100, seed=0), grammar_corpus(100, seed=0, p_mood=1.0)
    assert plain == grammar_corpus(100, seed=0, p_mood=0.0)
    assert sum("but" in s for d in moody for s in d) > sum("but" in s for d in plain for s in d)


def test_held_out_sense_templates_never_reach_the_pretraining_corpus():
    import re
    from minissl.tasks.senses import SENSES, TEMPLATES, template_ids
    pattern = {(w, s, t): re.compile(re.sub(r"\{[APNT]\}", r"\\w+", TEMPLATES[(w, SENSES[w][s])][t]) + " .")
               for w in SENSES for s in (0, 1) for t in template_ids(w, s)}
    found = set()  # stories use "apple" as a food too: no held-out template may be one of their sentences
    for doc in grammar_corpus(1500, seed=3):
        for sent in doc:
            hits = [k for k, p in pattern.items() if p.fullmatch(sent)]
            assert len(hits) <= 1
            found.update(hits)
    assert found and all(t % 2 == 0 for _, _, t in found)  # even = seen, odd = held out
    assert len(found) > 30  # most seen templates occur: the split is not trivially empty


def test_sense_grid_covers_every_template_of_both_senses():
    from minissl.tasks import sense_grid
    g = sense_grid(2, seed=0, word="apple")
    assert len(g) == 2 * 2 * 24 and all(e["text"].split()[e["position"]] == "apple" for e in g)
    assert {(e["label"], e["template"]) for e in g} == {(s, t) for s in (0, 1) for t in range(24)}
    assert sum(e["held_out"] for e in g) == len(g) // 2
