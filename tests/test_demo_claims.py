"""Slow: the small demos' --quick runs report, claim by claim, the verdicts measured for them.

Every demo ends with a claims table (demos/common.py): each claim is "this difference is
above 0", with a 95% interval and a verdict. Here each --quick run is pinned claim by claim:

* a claim that holds at --quick's budget must still hold, on the lower bound of its interval;
* a claim that does not hold there, or is not significant, must keep that verdict, so a claim
  that starts "holding" (a baseline broke, a test set leaked) fails as loudly as one that stops;
* the set of claims and the number of items (windows, sequences, seeds) behind each interval
  are pinned, so a claim cannot quietly vanish or rest on a smaller test set.

Each demo runs once per test, in its own process, with its default --seed 0.
"""
import pathlib
import sys

import pytest

from minissl import datasets
from minissl.metrics import verdict

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import run_demo  # noqa: E402

HOLDS, FAILS, UNSETTLED = "holds", "does not hold", "not significant"

# demo -> {claim: (verdict in --quick, n behind its interval)}
QUICK = {
    "autograd_basics": {
        "the MLP beats a linear model (logistic regression) on test accuracy": (HOLDS, 600),
        "the MLP beats chance (1/2) on test accuracy": (HOLDS, 600)},
    "cbow_embeddings": {
        "related pairs are closer than the same words with random partners (cosine)": (HOLDS, 12)},
    "gpt_sort": {
        "GPT's exact match beats copying the input": (HOLDS, 2000),
        "GPT's exact match beats its random init": (HOLDS, 200)},
    "gpt_text": {
        "GPT's validation loss is below the bigram's (nats)": (HOLDS, 64),
        "GPT's validation loss is below its random init's (nats)": (HOLDS, 64)},
    "gpt_shakespeare": {
        "GPT's validation loss is below the bigram's (nats)": (HOLDS, 600),
        "GPT's validation loss is below the unigram's (nats)": (HOLDS, 600)},
    # --quick's 300 steps learn which characters are common, not yet which follow which:
    # the Witten-Bell bigram is still ahead of the GPT (the tour says --quick need not beat it)
    "gpt_chinese": {
        "GPT's validation loss is below the bigram's (nats)": (FAILS, 566),
        "GPT's validation loss is below the unigram's (nats)": (HOLDS, 566)},
    "gpt_incontext": {
        "8 shots beat 0 shots (query accuracy)": (HOLDS, 4000),
        "8 shots beat chance (1/8)": (HOLDS, 4000)},
}
DATA = {"gpt_shakespeare": "shakespeare", "gpt_chinese": "chinese"}  # installed data sets they read
NEEDS = {"autograd_basics": "sklearn"}  # its linear baseline


def check_claims(m, expected):
    """Every claim of ``m`` is the one expected, with its verdict and its number of items."""
    got = {c["claim"]: c for c in m["claims"]}
    assert len(got) == len(m["claims"]), "two claims share one sentence"
    assert set(got) == set(expected), "the demo's claims changed: update QUICK after measuring the new ones"
    for text, (want, n) in expected.items():
        c = got[text]
        assert c["n"] == n, (text, c)
        assert c["lo"] <= c["value"] <= c["hi"] and c["verdict"] == verdict(c["lo"], c["hi"]), (text, c)
        if want == HOLDS:
            assert c["lo"] > 0 and c["verdict"] == HOLDS, f"no longer holds: {c}"
        else:
            assert c["verdict"] == want, f"measured {want!r} in --quick, now reports {c['verdict']!r}: {c}"
    counts = {v: sum(w == v for w, _ in expected.values()) for v in m["verdict_counts"]}
    assert m["verdict_counts"] == counts


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(QUICK))
def test_quick_run_reports_the_measured_verdict_of_every_claim(name, tmp_path):
    pytest.importorskip("matplotlib")
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    if name in DATA and not datasets.present(DATA[name]):
        pytest.skip(f"data set not installed: python -m minissl.datasets fetch {DATA[name]}")
    m, out = run_demo(name, tmp_path, "--quick", timeout=1200)
    assert m["quick"] and "verdicts: " in out
    check_claims(m, QUICK[name])


# --quick trains B in SVO only, on 2 fresh seeds. Every seed's difference is positive in all four
# claims, but a t interval over 2 seeds (1 degree of freedom) is 12.7 standard errors wide on
# each side: only the gap over two separate BERTs, the most consistent across seeds, is settled.
MULTILINGUAL_QUICK = {
    "the joint BERT aligns translations better than two separate BERTs (test MRR)": (HOLDS, 2),
    "the joint BERT aligns translations better than its random init (test MRR)": (UNSETTLED, 2),
    "zero-shot nli A -> B beats the majority class": (UNSETTLED, 2),
    "zero-shot nli A -> B beats the A-only BERT's": (UNSETTLED, 2)}


@pytest.mark.slow
def test_multilingual_quick_run_reports_the_measured_verdict_of_every_claim(tmp_path):
    pytest.importorskip("matplotlib")
    m, out = run_demo("multilingual", tmp_path, "--quick", timeout=1800)
    assert m["quick"] and "verdicts: " in out and m["seeds"] == [100, 101] and set(m["per_seed"]) == {"SVO"}
    assert all(c["where"] == "B SVO, 2 fresh seeds" for c in m["claims"])
    assert all(min(c["values"]) > 0 for c in m["claims"]), m["claims"]  # each seed still shows every effect
    check_claims(m, MULTILINGUAL_QUICK)
