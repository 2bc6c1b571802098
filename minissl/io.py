"""Saving and loading: ``ms.save`` / ``ms.load`` (NumPy ``.npz``), and atomic writes for every file.

safetensors files are read and written by :mod:`minissl.safetensors`, GGUF files by
:mod:`minissl.gguf`.

A checkpoint is a (possibly nested) dict of tensors, arrays and plain values
(numbers, strings, lists), e.g. ``{"model": model.state_dict(), "step": 10}``.
Arrays go into the ``.npz`` under their path (``model/encoder.weight``);
everything else goes into one JSON entry. Every file minissl writes is first
written to a temporary name beside the target and renamed over it, so a crash
mid-write never leaves a half-written file under the real name.

Files are input, and input can be hostile or simply broken. The readers here
follow the rules of the most careful libraries: never unpickle
(``allow_pickle=False``), check every size a header claims against the bytes
the file really holds *before* allocating, and refuse anything odd with one
sentence that names the file, the entry and the problem.
"""
from __future__ import annotations

import io
import itertools
import json
import math
import os
import stat
import zipfile

import numpy
import numpy.lib.format as npy_format

from . import backend
from .gguf import GGUFError, GGUFFile, read_gguf  # noqa: F401 - GGUF lives in its own file, one of the readers here
from .tensor import Tensor, tensor

_META = "__minissl__"
_FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a readable minissl checkpoint (or safetensors file, see :mod:`minissl.safetensors`)."""


def _host_array(x) -> numpy.ndarray:
    """The NumPy array behind a Tensor or backend array (one place that touches ``Tensor.array``)."""
    return backend.to_numpy(x.array if isinstance(x, Tensor) else x)


# ---------------------------------------------------------------- ms.save / ms.load (.npz)
def _flatten(obj, prefix, arrays):
    """Arrays into ``arrays`` under their path; the rest into a JSON-able tree."""
    where = prefix.rstrip("/") or "top level"
    if isinstance(obj, dict):
        items, seen = [], {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or "/" in str(k):
                raise TypeError(f"ms.save: dict keys must be str or int without '/', got {k!r} at {where}")
            if k == _META:
                raise ValueError(f"ms.save: the key {_META!r} (at {where}) is reserved for ms.save's own metadata; "
                                 "rename it")
            if str(k) in seen:  # arrays are stored under str(key): the two would overwrite each other
                raise ValueError(f"ms.save: keys {seen[str(k)]!r} and {k!r} at {where} are the same once written "
                                 "as text; checkpoint keys must differ as strings")
            seen[str(k)] = k
            items.append([k, _flatten(v, f"{prefix}{k}/", arrays)])  # JSON keeps str vs int apart here
        return {"__dict__": items}
    if isinstance(obj, Tensor) or backend.is_array(obj):
        name = prefix.rstrip("/") or "_root"
        if name in arrays:  # e.g. {"": t, "_root": u}
            raise ValueError(f"ms.save: two entries would be stored under the same name {name!r}; rename one")
        arrays[name] = _host_array(obj)
        return {"__array__": name, "tensor": isinstance(obj, Tensor)}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_flatten(v, f"{prefix}{i}/", arrays) for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, numpy.generic):
        return obj.item()
    raise TypeError(f"ms.save cannot store a {type(obj).__name__} (at {where}); "
                    "save tensors, arrays, numbers, strings, lists and dicts")


class _BadTree(Exception):
    """Raised inside :func:`_unflatten`; :func:`load` turns it into a CheckpointError naming the file."""


def _unflatten(node, arrays):
    """The inverse of :func:`_flatten`, checking each node's form (the metadata is input too)."""
    if isinstance(node, dict):
        if "__dict__" in node:
            pairs = node["__dict__"]
            if not isinstance(pairs, list) or not all(
                    isinstance(p, list) and len(p) == 2 and isinstance(p[0], (str, int)) for p in pairs):
                raise _BadTree("a dict entry is not a list of [key, value] pairs")
            return {k: _unflatten(v, arrays) for k, v in pairs}
        if "__array__" in node:
            name = node["__array__"]
            if not isinstance(name, str) or not isinstance(node.get("tensor"), bool):
                raise _BadTree(f"an array entry is malformed ({node!r:.80})")
            if name not in arrays:
                raise _BadTree(f"it names the array {name!r}, which is not in the file")
            return tensor(arrays[name]) if node["tensor"] else arrays[name]
        if "__list__" in node:
            if not isinstance(node["__list__"], list) or not isinstance(node.get("tuple"), bool):
                raise _BadTree(f"a list entry is malformed ({node!r:.80})")
            items = [_unflatten(v, arrays) for v in node["__list__"]]
            return tuple(items) if node["tuple"] else items
        raise _BadTree(f"an entry has none of __dict__/__array__/__list__ ({node!r:.80})")
    if isinstance(node, list):
        raise _BadTree("a bare list where an entry was expected")
    return node


def save(obj, path) -> None:
    """Write ``obj`` to ``path`` (a ``.npz`` file, never compressed) atomically."""
    arrays = {}
    tree = _flatten(obj, "", arrays)
    arrays[_META] = numpy.frombuffer(json.dumps({"version": _FORMAT_VERSION, "tree": tree}).encode(), numpy.uint8)
    buf = io.BytesIO()
    numpy.savez(buf, **arrays)
    write_atomic(path, [buf.getvalue()])


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, file_size: int, where: str) -> numpy.ndarray:
    """One ``.npy`` member, its header checked against the bytes the member holds
    before the array is allocated (an 8-byte header line can claim 8 TiB)."""
    name = info.filename[:-4]
    if info.compress_type != zipfile.ZIP_STORED:
        raise CheckpointError(f"{where}: entry {name!r} is compressed; ms.save never compresses, and a small "
                              "compressed entry can expand to any size, so minissl does not read it")
    if info.file_size != info.compress_size or info.compress_size > file_size:
        raise CheckpointError(f"{where}: entry {name!r} claims {info.file_size} bytes, more than the file holds")
    with zf.open(info) as f:
        try:
            version = npy_format.read_magic(f)
            read_header = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
            if version not in read_header:
                raise ValueError(f".npy format version {version} (ms.save writes 1.0)")
            shape, _fortran, dtype = read_header[version](f)
        except ValueError as e:
            raise CheckpointError(f"{where}: entry {name!r} is not a valid .npy array ({e})") from None
        if dtype.hasobject:
            raise CheckpointError(f"{where}: entry {name!r} holds Python objects, which would need pickle; "
                                  "minissl never unpickles")
        if any(not isinstance(d, int) or d < 0 for d in shape):
            raise CheckpointError(f"{where}: entry {name!r} has an invalid shape {shape}")
        claimed = math.prod(shape) * dtype.itemsize
        held = info.file_size - f.tell()
        if claimed != held:
            raise CheckpointError(f"{where}: entry {name!r} claims shape {shape} of {dtype} ({claimed} bytes) "
                                  f"but holds {held} bytes (truncated or forged)")
    with zf.open(info) as f:  # from the start again: read_array reads the header itself
        return npy_format.read_array(f, allow_pickle=False)


def load(path):
    """Read a checkpoint written by :func:`save`. Tensors come back as Tensors on the backend."""
    path = os.fspath(path)
    where = f"ms.load: {path!r}"
    if not os.path.exists(path):
        raise FileNotFoundError(f"ms.load: no checkpoint at {path!r}")
    if os.path.isdir(path):
        raise CheckpointError(f"{where} is a directory, not a checkpoint file")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise CheckpointError(f"{where} is a .npy file (one array), not a checkpoint written by ms.save (.npz); "
                              "read it with numpy.load")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
            if _META not in infos:
                raise CheckpointError(f"{where} is a .npz file but not a minissl checkpoint (no metadata entry); "
                                      "was it written by ms.save?")
            size = os.path.getsize(path)
            meta_arr = _read_member(zf, infos[_META], size, where)
            try:
                if meta_arr.dtype != numpy.uint8 or meta_arr.ndim != 1:
                    raise ValueError(f"it is a {meta_arr.dtype} array of shape {meta_arr.shape}, not bytes")
                meta = json.loads(meta_arr.tobytes().decode())
            except (ValueError, RecursionError) as e:
                raise CheckpointError(f"{where}: the metadata entry is not JSON text "
                                      f"({type(e).__name__}: {str(e)[:100]})") from None
            if not isinstance(meta, dict) or "version" not in meta or "tree" not in meta:
                raise CheckpointError(f"{where}: the metadata is not a dict with 'version' and 'tree'")
            if meta["version"] != _FORMAT_VERSION:
                raise CheckpointError(f"{where} has format version {meta['version']!r}; this minissl reads version "
                                      f"{_FORMAT_VERSION} (was it written by a newer minissl?)")
            arrays = {k: _read_member(zf, i, size, where) for k, i in infos.items() if k != _META}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(f"{where} is truncated or not a minissl checkpoint "
                              f"({type(e).__name__}: {e}); nothing was loaded") from None
    try:
        return _unflatten(meta["tree"], arrays)
    except _BadTree as e:
        raise CheckpointError(f"{where}: the metadata is malformed: {e}") from None
    except RecursionError:
        raise CheckpointError(f"{where}: the metadata is nested too deeply to be a checkpoint") from None


# ---------------------------------------------------------------- atomic writes
# A save writes ".{name}.tmp-minissl-{pid}-{n}" beside the target, fsyncs it and
# renames it over the target: the rename is atomic, so readers see the old file
# or the new one, never half of one. If the writer is killed (kill -9, power
# loss) before the rename, its temp file stays; because the name says which
# target and which process it belongs to, the next save of that target removes
# the temp files of processes that no longer exist.
_TMP_TAG = ".tmp-minissl-"
_tmp_counter = itertools.count()  # several saves of one target in one process (threads) never share a name


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's), or we cannot tell: keep its file
    return True


def _remove_stale_temps(folder: str, name: str) -> None:
    if os.name != "posix":
        return
    prefix = f".{name}{_TMP_TAG}"
    for entry in os.listdir(folder):
        if not entry.startswith(prefix):
            continue
        pid = entry[len(prefix):].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            try:
                os.remove(os.path.join(folder, entry))
            except OSError:
                pass  # someone else cleaned it first, or we may not: not this save's problem


def write_atomic(path, parts) -> None:
    """Write the byte strings ``parts`` to ``path`` atomically (temp file, fsync, rename).

    The new file gets the permissions a plain ``open(path, "wb")`` would give: the
    umask's for a new file, the old file's mode when replacing one."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    _remove_stale_temps(folder, name)
    tmp = os.path.join(folder, f".{name}{_TMP_TAG}{os.getpid()}-{next(_tmp_counter)}")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    try:
        if os.path.lexists(tmp):  # left by an earlier process that had our pid: stale by construction
            os.remove(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:  # name the file the user asked for, not our temp file
        raise OSError(e.errno, f"cannot write {path!r}: {e.strerror} (is {folder!r} writable?)", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            for p in parts:
                f.write(p)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        except OSError:
            pass  # some file systems cannot sync a directory; the file itself is safe
        finally:
            os.close(dfd)




def write_directory_atomic(directory, write, last=("config.json",)) -> None:
    """Write several files as one: ``write(folder)`` fills a fresh temporary folder
    beside ``directory``, which then becomes ``directory``.

    A new ``directory`` appears in one rename, complete or not at all. Into an existing
    one the finished files are moved one by one, the names in ``last`` at the end (a
    ``config.json`` marks a save complete); files already there that were not rewritten
    stay. If ``write`` fails, ``directory`` is untouched and the temporary folder is removed.
    """
    import shutil
    import uuid

    directory = os.path.abspath(os.fspath(directory))
    parent, name = os.path.split(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(f"cannot save into {directory!r}: it is a file, not a folder")
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{name}{_TMP_TAG}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.mkdir(tmp)  # the umask's permissions, as os.makedirs(directory) would give
    try:
        write(tmp)
        try:
            os.rename(tmp, directory)  # fails if directory exists and is not empty
            return
        except OSError:
            if not os.path.isdir(directory):
                raise
        names = sorted(os.listdir(tmp), key=lambda n: (n in last, last.index(n) if n in last else 0, n))
        for n in names:
            os.replace(os.path.join(tmp, n), os.path.join(directory, n))
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
