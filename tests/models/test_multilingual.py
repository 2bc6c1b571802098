"""Cross-lingual alignment measures: word vectors, cosine ranks, MRR, the mean shift."""
import numpy as np
import pytest

import minissl as ms
from minissl.models.bert import BertConfig, BertModel
from minissl.models.multilingual import (alignment_by_layer, alignment_scores, chance_mrr, cosine_ranks,
                                         joint_tokenizer, mean_shift, mean_word_vectors)
from minissl.tasks.world import world_corpus, world_preferences
from minissl.tasks import grammar_vocab, lexicon, make_dictionary
from minissl.text import BERT_SPECIALS

npy = ms.backend.to_numpy  # results live on the backend (CuPy on a GPU)


def test_joint_tokenizer_shares_only_the_anchors():
    a, b = grammar_vocab("a"), grammar_vocab("b")
    tok = joint_tokenizer(a, b)
    assert tok.vocab_size == len(BERT_SPECIALS) + len(set(a) | set(b))
    ids_a, ids_b = set(tok.convert_tokens_to_ids(a)), set(tok.convert_tokens_to_ids(b))
    assert tok.unk_token_id not in ids_a | ids_b  # every word is one known token
    shared = {tok.id_to_token(i) for i in ids_a & ids_b}
    assert shared == {".", "?", ","}
    with pytest.raises(ValueError, match="non-empty"):
        joint_tokenizer([], [])


def test_mean_word_vectors_equal_a_loop_over_single_sentences():
    ms.manual_seed(0)
    cfg = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=16, max_position_embeddings=16)
    model = BertModel(cfg)
    rng = np.random.default_rng(0)
    seqs = [[2] + list(rng.integers(5, 20, size=int(rng.integers(2, 9)))) + [3] for _ in range(7)]
    words = [5, 9, 12, 19]
    got, counts = map(npy, mean_word_vectors(model, seqs, words, batch_size=3))  # padded batches of 3
    model.eval()
    sums = np.zeros((3, len(words), 8))
    n = np.zeros(len(words))
    for s in seqs:  # one unpadded sentence at a time: padding must not change anything
        hs = [h.numpy()[0] for h in model(np.array([s])).hidden_states]
        for t, tokid in enumerate(s):
            if tokid in words:
                j = words.index(tokid)
                n[j] += 1
                for l in range(3):
                    sums[l, j] += hs[l][t]
    np.testing.assert_array_equal(counts, n)
    expect = sums / np.maximum(n, 1)[None, :, None]
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-5)
    model.train()  # the caller's mode is restored
    mean_word_vectors(model, seqs, words)
    assert model.training


def test_cosine_ranks_by_hand():
    src = np.array([[1.0, 0.0], [0.0, 2.0]])
    tgt = np.array([[3.0, 0.3], [0.0, 1.0], [1.0, 1.0]])
    # query 0: cosines 0.995, 0, 0.707 -> target 2 is 2nd; query 1: 0.0995, 1, 0.707 -> target 0 is 3rd
    np.testing.assert_array_equal(npy(cosine_ranks(src, tgt, [2, 0])), [2, 3])
    s = alignment_scores(src, tgt, [2, 0], ks=(1, 2))
    assert s == pytest.approx({"mrr": (1 / 2 + 1 / 3) / 2, "top1": 0.0, "top2": 0.5})
    # cosine ignores length: rescaling targets by positive numbers changes no rank
    np.testing.assert_array_equal(npy(cosine_ranks(src, tgt * np.array([[0.1], [7.0], [2.0]]), [2, 0])), [2, 3])
    # ties count against the query
    np.testing.assert_array_equal(npy(cosine_ranks(src[:1], np.array([[1.0, 0.0], [2.0, 0.0]]), [0])), [2])


def test_permuted_copy_is_perfectly_aligned_and_random_vectors_are_near_chance():
    rng = np.random.default_rng(1)
    src = rng.standard_normal((200, 32))
    perm = rng.permutation(200)
    s = alignment_scores(src, src[perm], np.argsort(perm))
    assert s["mrr"] == 1.0 and s["top1"] == 1.0
    r = alignment_scores(src, rng.standard_normal((200, 32)), np.arange(200))
    assert abs(r["mrr"] - chance_mrr(200)) < 0.03


def test_chance_mrr_by_hand_and_by_simulation():
    assert chance_mrr(1) == 1.0
    assert chance_mrr(2) == pytest.approx(0.75)
    assert chance_mrr(4) == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    ranks = np.random.default_rng(0).integers(1, 51, size=200_000)
    assert chance_mrr(50) == pytest.approx(np.mean(1 / ranks), abs=2e-3)


def test_mean_shift_undoes_a_language_offset():
    rng = np.random.default_rng(2)
    words = rng.standard_normal((100, 16))
    offset = 10 * rng.standard_normal(16)  # a "language direction" much longer than the spread
    a, b = words + offset, words
    before = alignment_scores(a, b, np.arange(100))["mrr"]
    after = alignment_scores(mean_shift(a, b), b, np.arange(100))["mrr"]
    assert before < 0.3 and after == 1.0
    np.testing.assert_allclose(npy(mean_shift(a, b)).mean(0), b.mean(0), atol=1e-12)
    layers = alignment_by_layer(np.stack([a, words]), np.stack([b, words]), np.arange(100), shift=True)
    assert [l["mrr"] for l in layers] == [1.0, 1.0]


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="share H"):
        cosine_ranks(np.ones((2, 3)), np.ones((2, 4)), [0, 1])
    with pytest.raises(ValueError, match="one target index per query"):
        cosine_ranks(np.ones((2, 3)), np.ones((2, 3)), [0])
    with pytest.raises(ValueError, match="distinct"):
        mean_word_vectors(None, [[1, 2]], [1, 1])


def test_world_corpus_filters_meanings_the_same_way_in_both_languages():
    a = world_corpus(300, seed=3, language="a", strength=2.0)
    b = world_corpus(300, seed=3, language="b", strength=2.0)
    d = make_dictionary()
    # same seed: B is A written word by word through the dictionary (the demo uses different seeds)
    assert [[" ".join(d[w] for w in s.split()) for s in doc] for doc in a] == b
    assert sum(map(len, a)) >= 300
    with pytest.raises(ValueError, match="strength"):
        world_corpus(10, strength=-1)


def test_world_corpus_makes_preferred_pairs_co_occur_more():
    """Pairs whose hidden preferences agree (cosine) are seen more often than in the plain grammar."""
    prefs = {w: u / np.linalg.norm(u) for w, u in world_preferences(8).items()}
    def pair_stats(strength):
        counts = {}
        for doc in world_corpus(5000, seed=0, strength=strength):
            for s in doc:
                ws = sorted({w for w in s.split() if w in prefs})
                for i, w in enumerate(ws):
                    for v in ws[i + 1:]:
                        counts[(w, v)] = counts.get((w, v), 0) + 1
        return counts
    plain, world = pair_stats(0.0), pair_stats(5.0)
    agents = set(lexicon.AGENTS)  # the hero chooses; pairs without it only share a cause
    pairs = [p for p in plain if plain[p] >= 5 and (p[0] in agents) != (p[1] in agents)]
    dots = np.array([prefs[w] @ prefs[v] for w, v in pairs])
    ratio = np.log(np.array([world.get(p, 0) + 1 for p in pairs]) / np.array([plain[p] for p in pairs]))
    assert np.corrcoef(dots, ratio)[0, 1] > 0.3  # about 0 if choices ignored the preferences   # kept more often where the preference agrees


def test_world_corpus_mood_stories_judge_the_hero_consistently():
    """With p_mood=1 every "hero was (not) adj" in a story has one clause polarity; p_mood=0
    (the default) leaves the corpus unchanged."""
    assert world_corpus(200, seed=4) == world_corpus(200, seed=4, p_mood=0.0)
    agents, mixed = set(lexicon.AGENTS), 0
    def hero_of(doc):  # the agent named most often (in every event sentence)
        ws = [w for s in doc for w in s.split() if w in agents]
        return max(set(ws), key=ws.count) if ws else None
    for doc in world_corpus(3000, seed=4, plain=0.0, p_mood=1.0):
        hero = hero_of(doc)
        pols = set()
        for s in doc:
            ws = s.split()
            if ws[1] == hero and "was" in ws and ws[-2] in lexicon.POLARITY:
                pols.add(lexicon.POLARITY[ws[-2]] ^ ("not" in ws))
        mixed += len(pols) > 1
    assert mixed == 0
    # without moods the same check finds many mixed stories (the test can fail)
    mixed0 = 0
    for doc in world_corpus(3000, seed=4, plain=0.0):
        hero = hero_of(doc)
        pols = {lexicon.POLARITY[s.split()[-2]] ^ ("not" in s.split()) for s in doc
                if s.split()[1] == hero and "was" in s.split() and s.split()[-2] in lexicon.POLARITY}
        mixed0 += len(pols) > 1
    assert mixed0 > 50


def test_world_corpus_mood_negation_rate_is_opt_in():
    """p_neg_mood sets how often a mood story's judgements say "not"; the default (0.3)
    leaves the corpus as before, and moods still hold at any rate."""
    assert world_corpus(300, seed=5, p_mood=0.5) == world_corpus(300, seed=5, p_mood=0.5, p_neg_mood=0.3)

    def negated_fraction(p):
        judged = [s.split() for doc in world_corpus(3000, seed=5, plain=0.0, p_mood=1.0, p_neg_mood=p)
                  for s in doc if "was" in s.split() and s.split()[-2] in lexicon.POLARITY]
        return np.mean(["not" in ws for ws in judged]), len(judged)
    f01, n01 = negated_fraction(0.1)
    f05, n05 = negated_fraction(0.5)
    assert n01 > 300 and n05 > 300
    assert abs(f01 - 0.1) < 0.04 and abs(f05 - 0.5) < 0.06
    with pytest.raises(ValueError, match="p_neg_mood"):
        world_corpus(10, p_neg_mood=1.5)


def test_world_corpus_pronouns_name_the_hero_only_at_the_start_of_a_story():
    """p_pronoun=1: after the first sentence the hero subject is always "it", so a masked hero
    cannot be copied from a neighbouring sentence; p_pronoun=0 (default) leaves the corpus as is."""
    assert world_corpus(300, seed=6) == world_corpus(300, seed=6, p_pronoun=0.0)
    agents = set(lexicon.AGENTS)

    def named_and_it(p):  # later sentences whose subject is an agent (the hero) / is "it"
        later = [s.split() for doc in world_corpus(3000, seed=6, plain=0.0, p_pronoun=p) for s in doc[1:]]
        named = sum(any(w in agents for w in ws[:3]) and ws[0] == "the" for ws in later)
        return named / len(later), sum(ws[0] == "it" for ws in later) / len(later)
    named0, it0 = named_and_it(0.0)
    named1, it1 = named_and_it(1.0)
    assert named0 > 0.5 and it0 == 0  # by default the hero is named again and again
    assert named1 == 0 and abs(it1 - named0) < 0.05  # every such subject became "it"
    with pytest.raises(ValueError, match="p_pronoun"):
        world_corpus(10, p_pronoun=-0.1)
