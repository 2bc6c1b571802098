"""The neural PCFG's inside algorithm, span marginals, CKY, the F1 convention and the gold trees.

The references are independent of the code under test: log Z and the span
marginals by enumerating every binary tree and every labelling of it, the best
tree by enumerating trees, and the inside recursion written again with
torch.logsumexp (broadcast over split points and rules, no matmul trick).
"""
import itertools

import numpy as np
import pytest

import minissl as ms
from minissl.backend import to_numpy
from minissl.metrics import bracket_f1
from minissl.models.tree import NeuralPCFG, inside, left_branching, mbr_tree, random_tree, right_branching
from minissl.tasks import grammar_vocab
from minissl.tasks.grammar import Clause, Sentence, copula_clause, event_clause, noun_phrase
from minissl.tasks.lexicon import VERBS
from minissl.tasks.trees import sentence_tree, tree_sentences


def binary_trees(i, j):
    """Every binary tree over words i..j-1 as a tuple of its spans of 2+ words (parent after children)."""
    if j - i == 1:
        yield ()
        return
    for k in range(i + 1, j):
        for left in binary_trees(i, k):
            for right in binary_trees(k, j):
                yield left + right + ((i, j),)


def tree_probability(spans, n, x, root, rule, emit):
    """p(tree, x): the sum over every labelling of the tree's nodes, enumerated one by one."""
    NT, S = rule.shape[0], rule.shape[1]
    nodes = list(spans)
    total = 0.0
    for labels in itertools.product(range(NT), repeat=len(nodes)):
        lab = dict(zip(nodes, labels))
        for tags in itertools.product(range(S - NT), repeat=n):
            lab.update({(i, i + 1): NT + t for i, t in enumerate(tags)})
            p = root[lab[(0, n)]] * np.prod([emit[t, x[i]] for i, t in enumerate(tags)])
            for (i, j) in nodes:
                k = next(k for k in range(i + 1, j) if (i, k) in lab and (k, j) in lab)
                p *= rule[lab[(i, j)], lab[(i, k)], lab[(k, j)]]
            total += p
    return total


def random_grammar(rng, NT=2, T=2, V=4):
    S = NT + T
    return (rng.dirichlet(np.ones(NT)), rng.dirichlet(np.ones(S * S), NT).reshape(NT, S, S),
            rng.dirichlet(np.ones(V), T))


def as_tensors(*arrays, grad=False):
    return [ms.tensor(np.log(a), dtype=ms.float64, requires_grad=grad) for a in arrays]


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_log_z_is_the_sum_over_all_trees_and_labellings(n):
    rng = np.random.default_rng(n)
    root, rule, emit = random_grammar(rng)
    x = rng.integers(0, 4, n)
    Z = sum(tree_probability(t, n, x, root, rule, emit) for t in binary_trees(0, n))
    got = inside(*as_tensors(root, rule, emit), x[None], [n])
    np.testing.assert_allclose(to_numpy(got.array), [np.log(Z)], rtol=1e-10)


def test_padded_batch_matches_each_sentence_alone():
    rng = np.random.default_rng(0)
    g = as_tensors(*random_grammar(rng, NT=3, T=4, V=6))
    words = rng.integers(0, 6, (3, 7))
    lengths = [7, 2, 4]
    batch = to_numpy(inside(*g, words, lengths).array)
    alone = [to_numpy(inside(*g, words[b:b + 1, :lengths[b]], [lengths[b]]).array)[0] for b in range(3)]
    np.testing.assert_allclose(batch, alone, rtol=1e-12)


def test_inside_gradcheck():
    rng = np.random.default_rng(1)
    # unnormalised log potentials: the recursion is the same for any scores
    g = [ms.tensor(rng.normal(size=s), dtype=ms.float64, requires_grad=True) for s in [(2,), (2, 4, 4), (2, 5)]]
    words = np.array([[0, 3, 1, 4], [2, 2, 0, 0]])
    assert ms.gradcheck(lambda r, q, e: inside(r, q, e, words, [4, 3]), g)


def torch_inside(root, rule, emit, x):
    """β(i, k, A) = logsumexp over (j, B, C) of rule + β(i, j, B) + β(j+1, k, C), plain broadcasting."""
    import torch
    n, NT, S = len(x), rule.shape[0], rule.shape[1]
    neg = torch.full((NT,), -1e9, dtype=rule.dtype)
    beta = {(i, i + 1): torch.cat([neg, emit[:, x[i]]]) for i in range(n)}
    for w in range(2, n + 1):
        for i in range(n - w + 1):
            j = i + w
            terms = torch.stack([beta[(i, k)][:, None] + beta[(k, j)][None, :] for k in range(i + 1, j)])
            nt = torch.logsumexp((rule[:, None] + terms[None]).reshape(NT, -1), dim=1)
            beta[(i, j)] = torch.cat([nt, torch.full((S - NT,), -1e9, dtype=rule.dtype)])
    return torch.logsumexp(root + beta[(0, n)][:NT], dim=0)


def test_matches_torch_logsumexp_values_and_gradients():
    torch = pytest.importorskip("torch", reason="torch is the reference for this comparison")
    rng = np.random.default_rng(2)
    arrays = [rng.normal(size=s) for s in [(3,), (3, 7, 7), (4, 9)]]
    x = rng.integers(0, 9, 6)
    ours = [ms.tensor(a, dtype=ms.float64, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    inside(*ours, x[None], [6]).sum().backward()
    ref = torch_inside(*theirs, x.tolist())
    ref.backward()
    np.testing.assert_allclose(to_numpy(inside(*ours, x[None], [6]).array)[0], ref.item(), rtol=1e-10)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(a.grad.array), b.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_span_marginals_are_the_posterior_share_of_trees_containing_the_span():
    ms.manual_seed(0)
    model = NeuralPCFG(4, nt=2, t=2, dim=8).double()
    root, rule, emit = (np.exp(to_numpy(r.array)) for r in model.rules())
    n, x = 4, np.array([1, 0, 3, 2])
    p = {t: tree_probability(t, n, x, root, rule, emit) for t in binary_trees(0, n)}
    Z = sum(p.values())
    marg = model.span_marginals(np.stack([x, x]), [n, 3])
    for i in range(n):
        for j in range(i + 2, n + 1):
            want = sum(v for t, v in p.items() if (i, j) in t) / Z
            assert marg[0, i, j] == pytest.approx(want, rel=1e-9, abs=1e-12)
    # every binary tree has n-1 spans of 2+ words, so the expected count is n-1 too
    np.testing.assert_allclose(marg.sum(axis=(1, 2)), [n - 1, 2], rtol=1e-9)


def test_cky_returns_the_brute_force_best_tree():
    rng = np.random.default_rng(3)
    for n in (2, 3, 5, 7):
        score = rng.normal(size=(n, n + 1))
        best = max(binary_trees(0, n), key=lambda t: sum(score[s] for s in t))
        got = mbr_tree(score, n)
        assert set(got) == set(best) and got[-1] == (0, n)


def test_baseline_trees():
    assert right_branching(4) == [(2, 4), (1, 4), (0, 4)]
    assert left_branching(4) == [(0, 2), (0, 3), (0, 4)]
    rng = np.random.default_rng(0)
    trees5 = {frozenset(t) for t in binary_trees(0, 5)}
    for _ in range(20):
        assert frozenset(random_tree(5, rng)) in trees5 and len(random_tree(5, rng)) == 4
    # each split point is equally likely: over 3 words the two trees appear about equally often
    firsts = [random_tree(3, rng)[0] for _ in range(4000)]
    assert abs(firsts.count((0, 2)) / 4000 - 0.5) < 0.03


def test_bracket_f1_convention():
    gold = [(0, 2), (2, 5), (3, 5), (0, 5)] + [(i, i + 1) for i in range(5)]
    assert bracket_f1(right_branching(5), gold, 5) == pytest.approx(2 / 3)  # {(3,5),(2,5),(1,5)} vs 3 gold
    assert bracket_f1([(0, 2), (2, 5), (3, 5), (0, 5)], gold, 5) == 1.0
    # single words and the whole sentence never count: two trees that share only those score 0
    assert bracket_f1(left_branching(5), [(0, 5), (3, 5), (1, 3)], 5) == 0.0
    # nothing left on either side: F1 1; gold empty but a prediction made: precision 0
    assert bracket_f1([(0, 2)], [(0, 1), (1, 2), (0, 2)], 2) == 1.0
    assert bracket_f1(right_branching(3), [(0, 3)], 3) == 0.0
    with pytest.raises(ValueError, match="outside a sentence"):
        bracket_f1([(0, 6)], gold, 5)


def test_gold_spans_of_hand_checked_sentences():
    rng = np.random.default_rng(0)
    c = event_clause(rng, "dog", next(v for v in VERBS if v[0] == "chased"), neg=True, obj="cat",
                     place="park", adj="big", p_rel=0.0)
    words, spans = sentence_tree(Sentence([c]))
    assert words[:8] == "the big dog did not chase the cat".split() and words[9:] == ["the", "park"]
    big = {s for s in spans if s[1] - s[0] > 1}
    # [the big dog] [did not [chase [the cat] [in [the park]]]]
    assert big == {(0, 3), (3, 11), (5, 11), (6, 8), (8, 11), (9, 11), (0, 11)}
    rel = [("that", "PRON", None), ("chased", "VERB", None)] + noun_phrase(rng, "cat")
    words, spans = sentence_tree(Sentence([Clause(noun_phrase(rng, "dog", rel=rel), [("slept", "VERB", None)])]))
    assert words == "the dog that chased the cat slept".split()
    # [[the dog] [that [chased [the cat]]]] slept
    assert {s for s in spans if s[1] - s[0] > 1} == {(0, 2), (2, 6), (3, 6), (4, 6), (0, 6), (0, 7)}
    a = copula_clause(rng, "soup", "good", very=True)
    b = copula_clause(rng, "cake", "bad", neg=True)
    words, spans = sentence_tree(Sentence([a, b], [("but", "CCONJ", None)]))
    assert words == "the soup was very good but the cake was not bad".split()
    assert {s for s in spans if s[1] - s[0] > 1} == {(0, 2), (2, 5), (3, 5), (0, 5), (6, 8), (8, 11), (6, 11),
                                                      (0, 11)}


def test_generated_gold_trees_are_trees():
    data = tree_sentences(300, seed=5)
    assert data == tree_sentences(300, seed=5) and len({" ".join(d["words"]) for d in data}) == 300
    for d in data:
        n, spans = len(d["words"]), d["spans"]
        assert (0, n) in spans and all((i, i + 1) in spans for i in range(n)) and "." not in d["words"]
        for (a, b), (c, e) in itertools.combinations(spans, 2):  # nested or disjoint, never crossing
            assert b <= c or e <= a or (a <= c and e <= b) or (c <= a and b <= e)


def test_training_raises_the_likelihood():
    data = tree_sentences(48, seed=1)
    ids = {w: i for i, w in enumerate(grammar_vocab("a"))}
    n = max(len(d["words"]) for d in data)
    words = np.zeros((len(data), n), dtype=np.int64)
    for b, d in enumerate(data):
        words[b, :len(d["words"])] = [ids[w] for w in d["words"]]
    lengths = np.array([len(d["words"]) for d in data])
    ms.manual_seed(0)
    model = NeuralPCFG(len(ids), nt=4, t=6, dim=16)
    opt = ms.optim.Adam(model.parameters(), lr=1e-2)
    before = float(model(words, lengths).sum().item()) / lengths.sum()
    for _ in range(25):
        loss = model.loss(words, lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = float(model(words, lengths).sum().item()) / lengths.sum()
    # uniform emission over ~400 words is -6 nats per word; 25 steps must find the frequent words
    assert before < -5.5 and after > before + 1.5, (before, after)


def test_bad_input_is_refused():
    model = NeuralPCFG(5, nt=2, t=2, dim=4)
    with pytest.raises(ValueError, match="one-word sentences"):
        model(np.array([[1, 2]]), [1])
    with pytest.raises(ValueError, match="one length per row"):
        model(np.array([[1, 2]]), [2, 2])
