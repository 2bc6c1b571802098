"""The contrastive demo's supervised CNN baseline: its validation set is carved from the training
images only, its step budget stays in bounds, and model selection keeps the best validation weights."""
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import import_demo  # noqa: E402

demo = import_demo("contrastive")


def test_split_keeps_validation_out_of_pool_and_test():
    y_train = np.arange(3000) % 10
    pool, val, test = demo.split(y_train, 500, seed=3, pool_size=1200, test_size=200)
    assert len(val) == 1000 and np.bincount(y_train[val]).tolist() == [100] * 10  # stratified
    assert len(np.intersect1d(pool, val)) == 0 and len(pool) == 1200
    assert len(np.unique(test)) == 200 and test.max() < 500  # indices into the test images, never the training ones
    full_pool, full_val, full_test = demo.split(y_train, 500, seed=3)
    assert np.array_equal(np.sort(np.concatenate([full_pool, full_val])), np.arange(3000))
    assert np.array_equal(full_test, np.arange(500))


def test_budget_is_epochs_within_bounds():
    assert demo.sup_budget(590, epochs=10, min_steps=300, max_steps=1500) == 300  # 5 batches an epoch: the floor
    assert demo.sup_budget(5900, epochs=10, min_steps=300, max_steps=1500) == 470  # 47 batches an epoch
    assert demo.sup_budget(59000, epochs=10, min_steps=300, max_steps=1500) == 1500  # the cap


def test_model_selection_keeps_the_best_validation_weights(monkeypatch):
    # Scripted validation accuracies, with the weights seen at each evaluation: the best (0.5) comes second,
    # so the returned network must hold the second evaluation's weights, not the last ones.
    scores, seen = iter([0.2, 0.5, 0.3, 0.1, 0.4, 0.9]), []

    def scripted(net, x, y):
        seen.append({k: v.numpy().copy() for k, v in net.state_dict().items()})
        return next(scores)

    monkeypatch.setattr(demo, "accuracy", scripted)
    rng = np.random.default_rng(0)
    y = np.arange(40) % 10
    x = rng.random((40, 784)).astype(np.float32)
    net, h = demo.supervised(x, y, x[:10], y[:10], steps=60, seed=0, evals=30, patience=3)
    assert h["eval"] == [0.2, 0.5, 0.3, 0.1, 0.4]  # stopped after 3 evaluations without improvement
    assert h["best_step"] == h["eval_step"][1] and h["steps_run"] == h["eval_step"][-1] < 60
    final = {k: v.numpy() for k, v in net.state_dict().items()}
    assert all(np.array_equal(final[k], seen[1][k]) for k in final)
    assert not all(np.array_equal(final[k], seen[-1][k]) for k in final)
