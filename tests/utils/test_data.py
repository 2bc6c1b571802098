"""ms.utils.data against torch.utils.data: collation dtypes and structure, batch order,
lengths, samplers, random_split, and the errors PyTorch raises. The torch comparisons
skip cleanly where torch is not installed."""
from collections import namedtuple

import numpy as np
import pytest

import minissl as ms
from minissl.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler,
                                SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                                WeightedRandomSampler, default_collate, random_split)

try:
    import torch
    import torch.utils.data as tud
except ImportError:  # pragma: no cover - depends on the machine
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
npy = ms.backend.to_numpy


def _same(ours, theirs):
    """Structure, dtype, shape and values of a collated batch equal torch's."""
    if torch is not None and isinstance(theirs, torch.Tensor):
        assert isinstance(ours, ms.Tensor), type(ours)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), (ours.dtype, theirs.dtype)
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(npy(ours), theirs.numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for k in theirs:
            _same(ours[k], theirs[k])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), (type(ours), type(theirs))
        for a, b in zip(ours, theirs):
            _same(a, b)
    else:
        assert ours == theirs


Point = namedtuple("Point", "x y")
SAMPLES = {
    "floats": [1.0, 2.5, -3.0],                      # float64 in PyTorch, not float32
    "ints": [1, 2, 3],
    "bools": [True, False, True],
    "numpy f32 scalars": [np.float32(1), np.float32(2)],
    "numpy i32 scalars": [np.int32(1), np.int32(2)],
    "numpy f64 arrays": [np.arange(3.0), np.ones(3)],
    "numpy u8 arrays": [np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8)],
    "tuples": [(1, 2.0), (3, 4.0)],                  # a tuple comes back as a list
    "lists": [[1, 2], [3, 4]],
    "dicts": [{"a": 1, "b": [0.5, 1.5]}, {"a": 2, "b": [2.5, 3.5]}],
    "strings": ["x", "y"],
    "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
}


@needs_torch
@pytest.mark.parametrize("name", list(SAMPLES))
def test_default_collate_matches_torch(name):
    batch = SAMPLES[name]
    _same(default_collate(batch), tud.default_collate(batch))


@needs_torch
def test_collate_of_tensors_matches_torch():
    rows = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    ours = default_collate([(ms.tensor(r), i) for i, r in enumerate(rows)])
    theirs = tud.default_collate([(torch.tensor(r), i) for i, r in enumerate(rows)])
    _same(ours, theirs)


def test_collate_refuses_ragged_lists():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])


def _xy(n=10):
    x = ms.arange(n * 2, dtype=ms.float32).reshape(n, 2)
    y = ms.arange(n)
    return x, y


@needs_torch
@pytest.mark.parametrize("batch_size,drop_last", [(3, False), (3, True), (5, False), (1, False), (20, False)])
def test_sequential_loader_matches_torch(batch_size, drop_last):
    x, y = _xy()
    ours = DataLoader(TensorDataset(x, y), batch_size=batch_size, drop_last=drop_last)
    theirs = tud.DataLoader(tud.TensorDataset(torch.tensor(x.numpy()), torch.tensor(y.numpy())),
                            batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs) and len(ours.dataset) == len(theirs.dataset) == 10
    got, want = list(ours), list(theirs)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        _same(a, b)


def test_shuffle_is_a_permutation_every_epoch_and_reproduces_under_manual_seed():
    x, y = _xy(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True)

    def epoch():
        return [int(v) for _, yb in loader for v in yb]

    ms.manual_seed(3)
    first, second = epoch(), epoch()
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second  # a fresh order each epoch (this seed gives different orders)
    ms.manual_seed(3)
    assert epoch() == first


def test_generator_gives_its_own_reproducible_order():
    ds = list(range(20))
    a = [int(v) for b in DataLoader(ds, batch_size=5, shuffle=True, generator=ms.Generator().manual_seed(7)) for v in b]
    ms.manual_seed(123)  # the global seed does not matter when a generator is given
    b = [int(v) for b in DataLoader(ds, batch_size=5, shuffle=True, generator=ms.Generator().manual_seed(7)) for v in b]
    assert a == b and sorted(a) == ds and a != ds


def test_plain_list_dataset_and_custom_collate():
    loader = DataLoader(["ab", "c", "def"], batch_size=2, collate_fn=lambda b: [len(s) for s in b])
    assert list(loader) == [[2, 1], [3]]


def test_batch_size_none_yields_single_examples_converted():
    loader = DataLoader([np.arange(3), np.arange(3) + 1], batch_size=None)
    out = list(loader)
    assert len(loader) == 2 and isinstance(out[0], ms.Tensor) and out[1].tolist() == [1, 2, 3]


@needs_torch
def test_sampler_and_batch_sampler_give_torchs_batches():
    ds = list(range(10))
    order = [9, 3, 1, 0, 2, 8, 7, 6, 5, 4]
    ours = [b.tolist() for b in DataLoader(ds, batch_size=3, sampler=order)]
    theirs = [b.tolist() for b in tud.DataLoader(ds, batch_size=3, sampler=order)]
    assert ours == theirs
    bs = [[0, 1], [5, 6, 7], [9]]
    assert [b.tolist() for b in DataLoader(ds, batch_sampler=bs)] == \
        [b.tolist() for b in tud.DataLoader(ds, batch_sampler=bs)]
    assert list(BatchSampler(SequentialSampler(ds), 4, False)) == list(tud.BatchSampler(tud.SequentialSampler(ds), 4, False))
    assert len(BatchSampler(range(10), 4, True)) == len(tud.BatchSampler(range(10), 4, True)) == 2


@needs_torch
@pytest.mark.parametrize("kwargs", [dict(sampler=[0], shuffle=True), dict(batch_sampler=[[0]], batch_size=2),
                                    dict(batch_sampler=[[0]], drop_last=True), dict(batch_size=None, drop_last=True),
                                    dict(num_workers=-1)])
def test_mutually_exclusive_options_raise_like_torch(kwargs):
    with pytest.raises(ValueError):
        tud.DataLoader(list(range(4)), **kwargs)
    with pytest.raises(ValueError):
        DataLoader(list(range(4)), **kwargs)


def test_worker_options_are_accepted_and_change_nothing():
    ds = list(range(7))
    plain = [b.tolist() for b in DataLoader(ds, batch_size=3)]
    assert [b.tolist() for b in DataLoader(ds, batch_size=3, num_workers=4, pin_memory=True,
                                           persistent_workers=True, prefetch_factor=2)] == plain
    with pytest.raises(NotImplementedError, match="main process"):
        DataLoader(ds, worker_init_fn=lambda i: None)


def test_random_sampler_replacement_and_num_samples():
    ds = list(range(5))
    draws = list(RandomSampler(ds, replacement=True, num_samples=1000))
    assert len(draws) == 1000 and set(draws) == set(ds)
    chained = list(RandomSampler(ds, num_samples=12))  # two whole permutations, then 2 more
    assert len(chained) == 12 and sorted(chained[:5]) == sorted(chained[5:10]) == ds
    assert len(set(chained[10:])) == 2
    with pytest.raises(ValueError, match="positive integer"):
        RandomSampler(ds, num_samples=0)
    with pytest.raises(TypeError, match="boolean"):
        RandomSampler(ds, replacement=1)


def test_subset_and_weighted_samplers():
    assert sorted(SubsetRandomSampler([4, 2, 9])) == [2, 4, 9]
    draws = list(WeightedRandomSampler([0.0, 1.0, 3.0], 4000))
    assert 0 not in draws and abs(draws.count(2) / 4000 - 0.75) < 0.03  # 0.75 ± 5 standard errors
    with pytest.raises(RuntimeError):
        WeightedRandomSampler([0.0, 1.0], 2, replacement=False)


@needs_torch
@pytest.mark.parametrize("lengths", [[3, 7], [0.5, 0.5], [0.3, 0.3, 0.4], [0.33, 0.33, 0.34], [1.0]])
def test_random_split_lengths_match_torch(lengths):
    ours = random_split(range(10), lengths)
    theirs = tud.random_split(range(10), lengths)
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s) == list(range(10))  # disjoint and complete


def test_random_split_refuses_bad_lengths():
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [3, 3])


def test_subset_concat_and_tensor_dataset():
    x, y = _xy(6)
    ds = TensorDataset(x, y)
    sub = Subset(ds, [5, 0])
    assert len(sub) == 2 and int(sub[0][1]) == 5
    both = ds + sub
    assert isinstance(both, ConcatDataset) and len(both) == 8 and int(both[7][1]) == 0 and int(both[-1][1]) == 0
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(x, ms.arange(5))


def test_iterable_dataset_is_batched_in_order():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError):
        DataLoader(Stream(), shuffle=True)
    with pytest.raises(NotImplementedError, match="num_workers=0"):  # torch would read one copy per worker
        DataLoader(Stream(), batch_size=2, num_workers=2)


def test_reachable_from_the_package_like_torch():
    import minissl
    assert minissl.utils.data.DataLoader is DataLoader and issubclass(TensorDataset, Dataset)


def test_training_loop_over_a_loader_runs():
    x, y = _xy(8)
    model = ms.nn.Linear(2, 8)
    opt = ms.optim.SGD(model.parameters(), lr=0.01)
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True):
        loss = ms.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert np.isfinite(float(loss))
