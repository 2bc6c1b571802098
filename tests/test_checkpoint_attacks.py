"""Hostile and mistaken checkpoints for ``ms.save`` / ``ms.load`` (``.npz``), and the
write hygiene every minissl save shares (``ms.save``, ``save_safetensors``): one
clear sentence naming the file for every bad input, nothing allocated beyond what
the file holds, no pickle ever, and no temporary file left behind for good."""
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile

import numpy as np
import numpy.lib.format as npy_format
import pytest

import minissl as ms
from minissl import nn

META = "__minissl__"


def npy_bytes(arr=None, header=None, data=b""):
    """A ``.npy`` member: a real array, or a hand-written header followed by ``data``."""
    b = io.BytesIO()
    if arr is not None:
        npy_format.write_array(b, arr, allow_pickle=arr.dtype.hasobject)
    else:
        npy_format.write_array_header_1_0(b, header)
        b.write(data)
    return b.getvalue()


def meta_bytes(meta):
    return npy_bytes(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def write_npz(path, members, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)
    return path


def tree(**arrays):
    return {"version": 1, "tree": {"__dict__": [[k, {"__array__": v, "tensor": True}] for k, v in arrays.items()]}}


# ---------------------------------------------------------------- saving
def test_keys_equal_as_strings_are_refused(tmp_path):
    """``{0: a, "0": b}`` would load back with b under both keys, so the save refuses it."""
    with pytest.raises(ValueError, match=r"0 and '0'.*same"):
        ms.save({0: ms.ones(2), "0": ms.zeros(2)}, tmp_path / "c.npz")
    with pytest.raises(ValueError, match="same"):
        ms.save({"m": {1: 1, "1": 2}}, tmp_path / "c.npz")
    assert os.listdir(tmp_path) == []


def test_the_metadata_key_is_reserved(tmp_path):
    """A key named ``__minissl__`` would save and then never load, so the save refuses it."""
    with pytest.raises(ValueError, match="__minissl__.*reserved"):
        ms.save({META: ms.ones(2)}, tmp_path / "c.npz")
    assert os.listdir(tmp_path) == []


def test_int_keys_and_nested_dicts_still_round_trip(tmp_path):
    ms.save({0: "zero", "a": {1: ms.ones(2), "b": 3}}, tmp_path / "c.npz")
    back = ms.load(tmp_path / "c.npz")
    assert back[0] == "zero" and back["a"]["b"] == 3 and back["a"][1].shape == (2,)


def test_save_never_compresses(tmp_path):
    ms.save({"w": ms.zeros(1000)}, tmp_path / "c.npz")
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())


# ---------------------------------------------------------------- loading
def test_compressed_member_is_refused_without_expanding_it(tmp_path):
    """A compressed member is refused unread: 100 KB of deflate would expand to 100 MB."""
    p = write_npz(tmp_path / "bomb.npz", {"w": npy_bytes(np.zeros(25_000_000, np.float32)),
                                           META: meta_bytes(tree(w="w"))}, compress=zipfile.ZIP_DEFLATED)
    assert p.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(ms.CheckpointError) as e:
            ms.load(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(p) in str(e.value) and "compressed" in str(e.value)
    assert peak < 5_000_000, peak


def _bad_files(tmp_path):
    """(id, path, words) for each malformed checkpoint; every message must also name the file."""
    ok = npy_bytes(np.ones(3, np.float32))
    cases = []

    def add(name, members, *words):
        cases.append((name, write_npz(tmp_path / f"{len(cases)}.npz", members), words))

    add("metadata names a missing array", {META: meta_bytes(tree(w="w"))}, "'w'", "not in the file")
    add("npy header claims 8 TiB", {"w": npy_bytes(header={"descr": "<f8", "fortran_order": False,
                                                          "shape": (2 ** 40,)}, data=b"\0" * 16),
                                    META: meta_bytes(tree(w="w"))}, "'w'", "8796093022208", "16")
    add("npy header claims a negative shape", {"w": npy_bytes(header={"descr": "<f4", "fortran_order": False,
                                                                      "shape": (-1,)}, data=b"\0" * 4),
                                               META: meta_bytes(tree(w="w"))}, "'w'")
    add("unknown format version", {"w": ok, META: meta_bytes(dict(tree(w="w"), version=2))}, "version 2")
    add("version missing", {"w": ok, META: meta_bytes({"tree": 1})}, "version")
    add("metadata is a list", {META: meta_bytes([1, 2])}, "metadata")
    add("metadata is not JSON", {META: npy_bytes(np.frombuffer(b"{oops", np.uint8))}, "metadata")
    add("metadata is not bytes", {META: npy_bytes(np.ones(3, np.float32))}, "metadata")
    add("tree is malformed", {META: meta_bytes({"version": 1, "tree": {"__dict__": 5}})}, "metadata")
    add("tree pair is not a pair", {META: meta_bytes({"version": 1, "tree": {"__dict__": [[1, 2, 3]]}})},
        "metadata")
    add("array entry without flag", {"w": ok, META: meta_bytes({"version": 1, "tree": {"__array__": "w"}})},
        "metadata")
    add("object array", {"w": npy_bytes(np.array([{}, 1], dtype=object)), META: meta_bytes(tree(w="w"))},
        "'w'", "pickle")
    add("member is not .npy", {"w": b"not an npy file at all", META: meta_bytes(tree(w="w"))}, "'w'")
    add("no metadata", {"w": ok}, "not a minissl checkpoint")
    nested = b'{"__list__": [' * 5000 + b"1" + b'], "tuple": false}' * 5000  # past Python's recursion limit
    add("deeply nested metadata", {META: npy_bytes(np.frombuffer(b'{"version": 1, "tree": ' + nested + b"}",
                                                                 np.uint8))}, "metadata")
    return cases


def test_bad_checkpoints_are_refused_in_one_sentence(tmp_path):
    failures = []
    for name, path, words in _bad_files(tmp_path):
        try:
            ms.load(path)
            failures.append(f"{name}: loaded")
        except ms.CheckpointError as e:
            msg = str(e)
            missing = [w for w in (str(path),) + tuple(words) if w not in msg]
            if missing or "\n" in msg:
                failures.append(f"{name}: {missing} not in {msg!r}")
        except Exception as e:  # noqa: BLE001 - the point is that nothing else escapes
            failures.append(f"{name}: {type(e).__name__}: {e}")
    assert not failures, "\n".join(failures)


def test_a_npy_file_is_refused_with_the_fix(tmp_path):
    p = tmp_path / "w.npy"
    np.save(p, np.ones(3))
    with pytest.raises(ms.CheckpointError, match=r"\.npy file.*numpy\.load"):
        ms.load(p)


def test_a_directory_or_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        ms.load(tmp_path / "nope.npz")
    with pytest.raises(ms.CheckpointError, match="directory"):
        ms.load(tmp_path)


def test_module_load_state_dict_wants_a_dict_of_arrays():
    m = nn.Linear(2, 2)
    before = m.weight.numpy().copy()
    with pytest.raises(TypeError, match="dict.*got list"):
        m.load_state_dict([m.weight, m.bias])
    with pytest.raises(RuntimeError, match=r"weight: .*ragged"):
        m.load_state_dict({"weight": [[1.0, 2.0], [3.0]], "bias": [0.0, 0.0]})
    with pytest.raises(RuntimeError, match=r"bias: .*str"):
        m.load_state_dict({"weight": before, "bias": "zeros"})
    np.testing.assert_array_equal(m.weight.numpy(), before)


# ---------------------------------------------------------------- write hygiene
def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("save", [lambda p: ms.save({"a": ms.ones(2)}, p),
                                  lambda p: ms.save_safetensors({"a": ms.ones(2)}, p)], ids=["npz", "safetensors"])
def test_a_later_save_removes_temp_files_of_dead_processes(tmp_path, save):
    """A save killed mid-write leaves its hidden temp file behind. Temp files are named after the target and the writer's pid, so the
    next save of the same target removes those whose process is gone."""
    target = tmp_path / "ck.bin"
    stale = tmp_path / f".ck.bin.tmp-minissl-{_dead_pid()}-0"
    stale.write_bytes(b"half a checkpoint")
    alive = tmp_path / f".ck.bin.tmp-minissl-{os.getppid()}-0"  # a live writer's: left alone
    alive.write_bytes(b"in progress")
    other = tmp_path / ".notes.txt.tmp-minissl-1-0"              # another target's: not ours to judge
    other.write_bytes(b"x")
    save(target)
    assert sorted(os.listdir(tmp_path)) == sorted(["ck.bin", alive.name, other.name])


def test_kill_9_during_a_save_leaves_a_temp_file_the_next_save_removes(tmp_path):
    script = textwrap.dedent(f"""
        import os, time, minissl as ms
        os.fsync = lambda fd: time.sleep(60)  # hang after writing, before the rename
        ms.save({{"w": ms.ones(1000)}}, {str(tmp_path / "ck.npz")!r})
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "MINISSL_BACKEND": "numpy"}  # file hygiene, not the backend
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while not [f for f in os.listdir(tmp_path) if f.startswith(".ck.npz.tmp-minissl-")] and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert os.listdir(tmp_path) == [f".ck.npz.tmp-minissl-{proc.pid}-0"]
    ms.save({"w": ms.zeros(3)}, tmp_path / "ck.npz")
    assert os.listdir(tmp_path) == ["ck.npz"]
    np.testing.assert_array_equal(ms.load(tmp_path / "ck.npz")["w"].numpy(), np.zeros(3))


def test_new_files_respect_the_umask_and_overwrites_keep_the_mode(tmp_path):
    """Regression: files were created 0600 whatever the umask (mkstemp's mode)."""
    old = os.umask(0o022)
    try:
        ms.save({"a": 1}, tmp_path / "a.npz")
        ms.save_safetensors({"a": np.ones(2, np.float32)}, tmp_path / "a.safetensors")
    finally:
        os.umask(old)
    assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "a.safetensors").stat().st_mode & 0o777 == 0o644
    os.chmod(tmp_path / "a.npz", 0o640)
    ms.save({"a": 2}, tmp_path / "a.npz")
    assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o640


def test_an_unwritable_folder_names_the_target_not_the_temp_file(tmp_path, monkeypatch):
    real_open = os.open

    def deny(path, *a, **k):
        if ".tmp-minissl-" in os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *a, **k)
    monkeypatch.setattr(os, "open", deny)
    target = tmp_path / "ck.npz"
    with pytest.raises(PermissionError) as e:
        ms.save({"a": 1}, target)
    assert str(target) in str(e.value) and ".tmp-minissl" not in str(e.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_names_the_target(tmp_path):
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(PermissionError) as e:
            ms.save({"a": 1}, tmp_path / "ck.npz")
    finally:
        os.chmod(tmp_path, 0o755)
    assert str(tmp_path / "ck.npz") in str(e.value) and ".tmp" not in str(e.value)
