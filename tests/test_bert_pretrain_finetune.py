"""The pre-train / fine-tune demo's protocol: standard masking, pre-training text disjoint
from every held-out input, and the same fine-tuning batches for the pre-trained and scratch arms."""
import pathlib
import sys

import numpy as np
import pytest

import minissl.train
from minissl.models.bert import BertConfig, BertForPreTraining
from minissl.tasks import grammar_tokenizer, load_task
from minissl.tasks.corpus import sentences_of, task_inputs
from minissl.tasks.lexicon import SENTIMENT_ADJ
from minissl.text import IGNORE_INDEX

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import import_demo, run_demo  # noqa: E402

demo = import_demo("bert_pretrain_finetune")


@pytest.fixture(scope="module")
def tok():
    return grammar_tokenizer()


def small_settings(docs=150):
    return {**demo.settings(quick=True), "docs": docs}


def within(count, n, p, sigmas=5):
    """count is Binomial(n, p): a 5-sigma band fails on a wrong rate, essentially never by chance."""
    return abs(count - n * p) <= sigmas * np.sqrt(n * p * (1 - p))


def test_pretraining_masks_15_percent_with_80_10_10_and_no_word_is_favoured(tok):
    examples = demo.pretraining_examples(tok, small_settings(), seed=0, sentence_task="sop")
    batch = demo.pretraining_batches(tok, examples, 64, np.random.default_rng(0))
    xs, labels, masks = [], [], []
    for step in range(40):
        b = batch(step)
        xs += list(b["input_ids"].ravel())
        labels += list(b["labels"].ravel())
        masks += list(b["attention_mask"].ravel())
    x, y, am = np.array(xs), np.array(labels), np.array(masks)
    chosen = y != IGNORE_INDEX
    orig = np.where(chosen, y, x)
    eligible = (am == 1) & ~np.isin(orig, tok.all_special_ids)
    assert not (chosen & ~eligible).any()
    assert within(chosen.sum(), eligible.sum(), 0.15)
    # a word class a task needs (the judged adjectives of sentiment) is chosen at the same 15%:
    # masking it on purpose, as a task-specific trick would, raises this rate far outside the band
    judged = np.isin(orig, tok.convert_tokens_to_ids(list(SENTIMENT_ADJ))) & eligible
    assert judged.sum() > 2000
    assert within((chosen & judged).sum(), judged.sum(), 0.15)
    n_random = tok.vocab_size - len(tok.all_special_ids)  # a random token equals the original 1 time in n
    assert within((chosen & (x == tok.mask_token_id)).sum(), chosen.sum(), 0.8)
    assert within((chosen & (x == orig)).sum(), chosen.sum(), 0.1 + 0.1 / n_random)


def held_out_inputs(seed):
    data = {t: load_task(t, 50, 100, 300, seed=seed) for t in demo.TASKS}
    return [x for t, task in data.items() for e in task.dev + task.test for x in task_inputs(t, e)]


def pretraining_sentences(tok, examples):
    out = set()
    for ids, _, _ in examples:
        words = tok.convert_ids_to_tokens([i for i in ids if i not in tok.all_special_ids])
        out |= set(sentences_of(" ".join(words)))
    return out


def test_pretraining_text_shares_no_sentence_with_any_test_or_validation_input(tok):
    held = held_out_inputs(seed=0)
    banned = {s for t in held for s in sentences_of(t)}
    S = small_settings(docs=300)
    clean = pretraining_sentences(tok, demo.pretraining_examples(tok, S, 0, "sop", held))
    assert not clean & banned
    # without the filter the grammar's short sentences do recur, so the check above can fail
    assert pretraining_sentences(tok, demo.pretraining_examples(tok, S, 0, "sop")) & banned


def test_pretrained_and_scratch_arms_see_the_same_batches(tok, tmp_path, monkeypatch):
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    BertForPreTraining(cfg).save_pretrained(str(tmp_path))
    train = demo.task_data(tok, load_task("sentiment", 40, 0, 0, seed=0), "train", 64)
    seen, take = [], minissl.train.take
    monkeypatch.setattr(minissl.train, "take", lambda data, rows: seen.append(np.asarray(rows).tolist())
                        or take(data, rows))

    def batches(ckpt, seed):
        seen.clear()
        demo.fine_tune("sentiment", cfg, ckpt, 2, train, epochs=2, lr=1e-3, seed=seed)
        return list(seen)

    pretrained, scratch = batches(str(tmp_path), seed=7), batches(None, seed=7)
    assert len(pretrained) == 6 and pretrained == scratch  # 40 rows in batches of 16, two epochs
    assert batches(None, seed=8) != scratch  # another seed reorders them: the comparison can fail


def test_a_fine_tuning_run_is_reproducible_from_its_seed(tok):
    # the demo reports the model it scored on validation, so a rerun with the same seed must be the same model
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    train = demo.task_data(tok, load_task("nli", 40, 0, 0, seed=0), "train", 64)
    runs = [demo.fine_tune("nli", cfg, None, 3, train, epochs=1, lr=1e-3, seed=s).state_dict() for s in (3, 3, 4)]
    assert all(np.array_equal(runs[0][k].numpy(), runs[1][k].numpy()) for k in runs[0])
    assert not all(np.array_equal(runs[0][k].numpy(), runs[2][k].numpy()) for k in runs[0])


@pytest.mark.slow
def test_quick_run_reports_every_arm_per_seed_and_a_verdict_per_claim(tmp_path):
    m, out = run_demo("bert_pretrain_finetune", tmp_path, "--quick", "--tasks", "sentiment,qa", timeout=None)
    assert m["protocol"]["seeds"] == [0, 1] and m["protocol"]["n_test"] == 300
    for task in ("sentiment", "qa"):
        entry = m["tasks"][task]
        for arm in demo.ARMS:
            assert len(entry[arm]["values"]) == 2 and entry[arm]["lo"] <= entry[arm]["mean"] <= entry[arm]["hi"]
        diff = entry["pretrained_minus_scratch"]
        assert diff["values"] == pytest.approx(np.subtract(entry["pretrained"]["values"], entry["scratch"]["values"]))
    assert m["tasks"]["qa"]["strong"]["values"] == [1.0, 1.0]  # the rule answers every generated question
    assert {c["verdict"] for c in m["claims"]} <= {"holds", "not significant", "does not hold"}
    assert sum(m["verdict_counts"].values()) == len(m["claims"]) == 6  # two claims for each task and the average
    assert (tmp_path / "results.png").exists() and (tmp_path / "pretrained" / "config.json").exists()
    assert "--quick: 2 seed(s)" in out


# The claims that held in the default run, seeds 0-4 (EXPERIMENTS.md): each is asserted on the lower
# bound of its 95% interval. The claims that did not hold (sentiment and DNA against scratch; every
# task but POS and NLI against its strong baseline) have no test here.
HELD = [("pos", "pretrained_minus_scratch"), ("pos", "pretrained_minus_strong"),
        ("nli", "pretrained_minus_scratch"), ("nli", "pretrained_minus_strong"),
        ("qa", "pretrained_minus_scratch"), ("average", "pretrained_minus_scratch")]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The default protocol, seeds 0-4 (about 11 minutes of CPU time)."""
    return run_demo("bert_pretrain_finetune", tmp_path_factory.mktemp("default"), "--seed", "0", timeout=None)[0]


@pytest.mark.slow
@pytest.mark.parametrize("task,difference", HELD, ids=[f"{t}-{d}" for t, d in HELD])
def test_a_claim_that_held_in_the_default_run_holds_on_its_lower_bound(default_run, task, difference):
    entry = default_run["average"]["intervals"] if task == "average" else default_run["tasks"][task]
    assert entry[difference]["lo"] > 0 and entry[difference]["verdict"] == "holds", entry[difference]
