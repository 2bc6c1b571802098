"""Devices, and the PyTorch switches that programs set: one device per process.

minissl computes on one device, chosen once by ``MINISSL_BACKEND``: ``cpu``
(NumPy) or ``cuda`` (CuPy on an NVIDIA GPU). PyTorch programs name devices all
the time (``x.to(device)``, ``torch.zeros(3, device=device)``,
``torch.cuda.is_available()``); here naming the backend's own device works and
naming the other one stops with a sentence that says how to switch. There is no
third outcome: a tensor never silently stays where the program did not ask.
"""
from __future__ import annotations

from types import SimpleNamespace

from . import backend


class device:
    """``ms.device("cpu")``, ``ms.device("cuda")``, ``ms.device("cuda:0")``, ``ms.device("cuda", 0)``."""

    def __init__(self, type, index=None):  # noqa: A002 - PyTorch's argument name
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', got {type!r}")
        if ":" in type:
            type, _, i = type.partition(":")
            if not i.isdigit():
                raise RuntimeError(f"device: invalid device string {type}:{i}")
            index = int(i)
        if type not in ("cpu", "cuda", "mps", "meta", "xla"):
            raise RuntimeError(f"device: unknown device type {type!r} (minissl knows 'cpu' and 'cuda')")
        self.type, self.index = type, index

    def __eq__(self, other):
        try:
            other = device(other)
        except (TypeError, RuntimeError):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else \
            f"device(type='{self.type}', index={self.index})"


device_cls = device  # for functions whose `device` argument shadows the class, as PyTorch names it


def current() -> device:
    """The device every tensor of this process lives on."""
    return device("cuda", 0) if backend.on_gpu else device("cpu")


def check(d) -> None:
    """Accept ``d`` (None, a string, an int GPU index or a device) if it is this process's device; else raise."""
    if d is None:
        return
    wanted = device("cuda", d) if isinstance(d, int) else device(d)
    here = current()
    if wanted.type != here.type or (wanted.index or 0) != 0:
        switch = "MINISSL_BACKEND=cupy" if wanted.type == "cuda" else "MINISSL_BACKEND=numpy (the default)"
        raise RuntimeError(f"minissl runs every tensor on one device per process, here {here}; {wanted} is not "
                           f"available: start the program with {switch} to run on {wanted.type}")


def parse_to(args, dtype=None, device=None):
    """Sort ``.to(...)``'s positional arguments, as PyTorch reads them: a Tensor gives its dtype,
    a string, ``ms.device`` or int names a device, anything else is a dtype. Checks the device."""
    from .tensor import Tensor
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, (str, device_cls)) or (isinstance(a, int) and not isinstance(a, bool)):
            device = a
        else:
            dtype = a
    check(device)
    return dtype



def _unsupported(what, why):
    def f(*args, **kwargs):
        raise NotImplementedError(f"{what} is not available in minissl: {why}")
    f.__name__ = what.rsplit(".", 1)[-1]
    return f


def _synchronize(device=None):
    if backend.on_gpu:
        backend.xp.cuda.get_current_stream().synchronize()


def _seed(seed):
    if backend.on_gpu:  # the backend's one generator is the GPU's
        backend.manual_seed(seed)


cuda = SimpleNamespace(
    is_available=lambda: backend.on_gpu,
    device_count=lambda: 1 if backend.on_gpu else 0,
    current_device=lambda: 0,
    manual_seed=_seed,
    manual_seed_all=_seed,
    synchronize=_synchronize,
    is_bf16_supported=lambda *a, **k: False,
    empty_cache=lambda: None,
    get_device_name=lambda *a: (backend.xp.cuda.runtime.getDeviceProperties(0)["name"].decode()
                                if backend.on_gpu else _unsupported("ms.cuda.get_device_name", "no GPU backend")()),
)

# Switches that only change how a GPU library rounds or searches for kernels.
# NumPy and CuPy have no TF32 matmul mode and no cuDNN autotuner here, so setting
# them changes nothing, honestly: they are plain attributes a program may set.
backends = SimpleNamespace(
    cuda=SimpleNamespace(matmul=SimpleNamespace(allow_tf32=False), is_built=lambda: backend.on_gpu,
                         enable_flash_sdp=lambda enabled: None),
    cudnn=SimpleNamespace(allow_tf32=True, benchmark=False, deterministic=False, enabled=True,
                          is_available=lambda: False),
    mps=SimpleNamespace(is_available=lambda: False, is_built=lambda: False),
)


# ---------------------------------------------------------------- mixed precision
class autocast:
    """``with ms.autocast(device_type, dtype=...)``: a no-op when disabled or in float32.

    Mixed precision (running matmuls in float16/bfloat16) is not implemented, so an
    enabled autocast to a lower precision refuses instead of silently staying float32."""

    def __init__(self, device_type="cuda", dtype=None, enabled=True, cache_enabled=None):
        if enabled and dtype is not None and backend.xp.dtype(dtype) != backend.xp.float32:
            raise NotImplementedError(f"autocast to {dtype}: mixed precision is not implemented in minissl; "
                                      "run in float32 (drop the autocast, or pass enabled=False)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self, fn):
        return fn


class GradScaler:
    """``GradScaler(enabled=False)`` passes everything through, as PyTorch's does; loss scaling itself
    (only needed for float16 training) is not implemented, so ``enabled=True`` refuses."""

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        if enabled:
            raise NotImplementedError("GradScaler(enabled=True): loss scaling for float16 training is not "
                                      "implemented in minissl (it trains in float32); pass enabled=False")

    def scale(self, loss):
        return loss

    def unscale_(self, optimizer):
        pass

    def step(self, optimizer, *args, **kwargs):
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None):
        pass

    def is_enabled(self):
        return False

    def get_scale(self):
        return 1.0


amp = SimpleNamespace(autocast=autocast, GradScaler=GradScaler)
cuda.amp = amp
