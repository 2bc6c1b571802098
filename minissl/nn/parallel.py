"""``torch.nn.parallel`` by name: importable, refused when used (minissl runs in one process, on one device)."""
from __future__ import annotations


class DistributedDataParallel:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("DistributedDataParallel: distributed training is not available in minissl, "
                                  "which runs in one process on one device; use the model itself")


class DataParallel(DistributedDataParallel):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("DataParallel: minissl runs on one device per process; use the model itself")
