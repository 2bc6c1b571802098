"""Datasets and the DataLoader, with ``torch.utils.data``'s names and behaviour.

The idea: a *dataset* answers ``len(ds)`` and ``ds[i]`` (one example); a
*sampler* yields the order of the indices (``SequentialSampler`` 0, 1, 2, ...;
``RandomSampler`` a fresh permutation every epoch); a *batch sampler* cuts that
order into lists of ``batch_size`` indices; and the *DataLoader* fetches the
examples of each list and *collates* them into one batch::

    for indices in batch_sampler:                 # e.g. [7, 2, 9, 4]
        yield collate_fn([dataset[i] for i in indices])

The default collate stacks like PyTorch's ``default_collate``: Tensors and
NumPy arrays are stacked along a new first dim, Python ints give int64, floats
give float64 (PyTorch's rule, not float32), bools give bool; tuples and lists
are collated field by field (a tuple comes back as a list, as in PyTorch),
dicts key by key, strings are left as a list.

Random order comes from minissl's seeded host generator
(:func:`minissl.backend.host_rng`), or from ``generator=`` (an
``ms.Generator``), so a run reproduces under ``ms.manual_seed``. The numbers
differ from PyTorch's for the same seed (another generator), as everywhere in
minissl.

Everything runs in the main process: ``num_workers``, ``pin_memory``,
``prefetch_factor``, ``persistent_workers`` and ``timeout`` are accepted and
change nothing for a map-style dataset (the batches and their order are the
same ones PyTorch's worker processes would produce; only loading is not
overlapped with compute). Where workers would change the result, minissl
raises instead: a ``worker_init_fn``, or an ``IterableDataset`` with
``num_workers > 0`` (PyTorch copies the stream into every worker).
"""
from __future__ import annotations

import bisect
import collections.abc as abc
import math
import numbers

import numpy  # host-side: indices and sample orders live on the CPU

from .. import backend
from ..tensor import Tensor
from ..tensor import tensor as _tensor

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "Subset", "random_split",
           "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler", "DataLoader", "default_collate", "default_convert", "get_worker_info"]


def _host_rng(generator):
    """The NumPy generator that orders data: ``generator``'s host stream, else minissl's seeded one."""
    return backend.host_rng() if generator is None else generator.host_rng


# ---------------------------------------------------------------- datasets
class Dataset:
    """An indexable collection of examples: subclasses define ``__getitem__`` (and usually ``__len__``)."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of examples: subclasses define ``__iter__``; the DataLoader batches them in order."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class TensorDataset(Dataset):
    """Example i is ``tuple(t[i] for t in tensors)``; all tensors share their first dim."""

    def __init__(self, *tensors):
        if not tensors or any(t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise ValueError("Size mismatch between tensors: TensorDataset needs tensors with the same first "
                             f"dim, got shapes {[tuple(t.shape) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class ConcatDataset(Dataset):
    """Several datasets one after another; ``ds1 + ds2`` builds one."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        self.cumulative_sizes = list(numpy.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` at random into non-overlapping :class:`Subset` s of the given ``lengths``.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1:
    each part gets ``floor(n · fraction)`` and the remainder is dealt out one by
    one from the first part on (PyTorch's rule)."""
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = _host_rng(generator).permutation(n).tolist()
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, order[start:start + k]))
        start += k
    return out


# ---------------------------------------------------------------- samplers
class Sampler:
    """Yields dataset indices (or lists of them) in some order; ``len`` says how many."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh random order every epoch.

    Without replacement: a permutation of all indices (``num_samples`` larger than
    the dataset chains whole permutations, then the start of one more). With
    replacement: ``num_samples`` independent uniform draws."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        self.data_source, self.replacement, self._num_samples, self.generator = \
            data_source, replacement, num_samples, generator
        if not isinstance(self.num_samples, int) or isinstance(self.num_samples, bool) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, rng = len(self.data_source), _host_rng(self.generator)
        if self.replacement:
            yield from rng.integers(0, n, size=self.num_samples).tolist()
            return
        for _ in range(self.num_samples // n):
            yield from rng.permutation(n).tolist()
        yield from rng.permutation(n).tolist()[:self.num_samples % n]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a fresh random order every epoch."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        for i in _host_rng(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        w = numpy.asarray(backend.to_numpy(weights), dtype=numpy.float64)
        if w.ndim != 1 or (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights should be a 1-D sequence of non-negative numbers with a positive sum")
        if not replacement and num_samples > int((w > 0).sum()):
            raise RuntimeError("cannot draw more samples than there are non-zero weights without replacement")
        self.weights, self.num_samples, self.replacement, self.generator = w, num_samples, replacement, generator

    def __iter__(self):
        rng = _host_rng(self.generator)
        yield from rng.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                              p=self.weights / self.weights.sum()).tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``; the last may be short unless ``drop_last``."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


# ---------------------------------------------------------------- collate
def _stack(tensors):
    from .. import ops
    return ops.stack(tensors, 0)


def default_collate(batch):
    """Turn a list of examples into one batch (PyTorch's ``default_collate``, see the module docstring)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if (backend.is_array(elem) or isinstance(elem, numpy.generic)) and elem.dtype.kind in "biuf":
        return _stack([_tensor(b if backend.is_array(b) else numpy.asarray(b)) for b in batch])
    if isinstance(elem, bool):
        return _tensor(batch)
    if isinstance(elem, int):
        return _tensor(batch, dtype=numpy.int64)
    if isinstance(elem, float):
        return _tensor(batch, dtype=numpy.float64)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, abc.Mapping):
        return type(elem)({key: default_collate([d[key] for d in batch]) for key in elem}) \
            if type(elem) is not dict else {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple keeps its type
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, abc.Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]  # tuples come back as lists, as in PyTorch
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


def default_convert(data):
    """What ``batch_size=None`` applies to each example: NumPy arrays become tensors, containers recurse."""
    if backend.is_array(data) and data.dtype.kind in "biuf":
        return _tensor(data)
    if isinstance(data, abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data


def get_worker_info():
    """Always ``None``: minissl loads data in the main process (as PyTorch with ``num_workers=0``)."""
    return None


# ---------------------------------------------------------------- the loader
class DataLoader:
    """Iterate over ``dataset`` in batches: ``for x, y in DataLoader(ds, batch_size=32, shuffle=True)``.

    Arguments as PyTorch's. ``shuffle=True`` uses a :class:`RandomSampler`
    (drawing from ``generator`` or minissl's seeded host generator); ``sampler``
    and ``batch_sampler`` replace the order; ``collate_fn`` replaces
    :func:`default_collate`; ``batch_size=None`` yields single examples.

    Loading happens in the main process: ``num_workers``, ``pin_memory``,
    ``prefetch_factor``, ``persistent_workers`` and ``timeout`` are accepted and
    ignored (the batches are the same; loading is simply not overlapped with
    compute). A ``worker_init_fn`` would never be called, and an
    IterableDataset with workers would be read differently, so both are refused.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if worker_init_fn is not None:
            raise NotImplementedError("DataLoader(worker_init_fn=...): minissl loads data in the main process and "
                                      "has no worker processes to initialise; drop the argument (seed with "
                                      "ms.manual_seed instead)")
        self.dataset, self.num_workers, self.pin_memory, self.generator = dataset, num_workers, pin_memory, generator
        self.timeout, self.prefetch_factor, self.persistent_workers = timeout, prefetch_factor, persistent_workers
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if num_workers > 0:
                raise NotImplementedError(
                    "DataLoader(IterableDataset, num_workers>0): PyTorch runs a copy of the stream in each worker "
                    "and interleaves their batches, which minissl's single process cannot reproduce; use "
                    "num_workers=0 (the stream is then read once, in order)")
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler and batch_sampler "
                                 "options (an IterableDataset decides its own order)")
        elif sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last, self.sampler, self.batch_sampler = batch_size, drop_last, sampler, batch_sampler
        self._auto_collation = batch_sampler is not None or (self._iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    def _fetch(self, indices):
        getitems = getattr(self.dataset, "__getitems__", None)
        return getitems(indices) if getitems is not None else [self.dataset[i] for i in indices]

    def __iter__(self):
        if self._iterable:
            yield from self._iter_stream()
        elif self.batch_sampler is not None:
            for indices in self.batch_sampler:
                yield self.collate_fn(self._fetch(indices))
        else:
            for i in self.sampler:
                yield self.collate_fn(self.dataset[i])

    def _iter_stream(self):
        if self.batch_size is None:
            yield from (self.collate_fn(x) for x in self.dataset)
            return
        batch = []
        for x in self.dataset:
            batch.append(x)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)  # TypeError when the stream has no length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)
