"""``torch.distributed`` by name, for programs that import it: minissl trains in one process.

Programs such as nanoGPT import ``init_process_group`` and friends at the top and
call them only when launched with several processes. Importing works here;
asking whether distributed training is on says no; starting it raises.
"""
from __future__ import annotations


def is_available() -> bool:
    return False


def is_initialized() -> bool:
    return False


def _refuse(name):
    def f(*args, **kwargs):
        raise NotImplementedError(f"ms.distributed.{name}: distributed training is not available in minissl, "
                                  "which runs in one process on one device; run the program without a "
                                  "distributed launcher (torchrun)")
    f.__name__ = name
    return f


init_process_group = _refuse("init_process_group")
destroy_process_group = _refuse("destroy_process_group")
get_rank = _refuse("get_rank")
get_world_size = _refuse("get_world_size")
barrier = _refuse("barrier")
all_reduce = _refuse("all_reduce")
broadcast = _refuse("broadcast")
