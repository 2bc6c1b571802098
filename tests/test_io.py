"""ms.save / ms.load: round trip, atomic writes, clear errors on bad files."""
import os

import numpy as np
import pytest

import minissl as ms
from minissl import nn


def test_round_trip_nested_checkpoint(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    obj = {"model": model.state_dict(), "step": 7, "lr": 1e-3, "name": "run", "flags": [True, None],
           "pair": (1, "a"), "ids": np.arange(5), 3: "int key", "x": ms.tensor(np.ones((2,), np.float64))}
    path = tmp_path / "ck.npz"
    ms.save(obj, path)
    back = ms.load(path)
    assert back["step"] == 7 and back["lr"] == 1e-3 and back["name"] == "run" and back["flags"] == [True, None]
    assert back["pair"] == (1, "a") and back[3] == "int key"  # int keys stay ints, tuples stay tuples
    assert isinstance(back["ids"], np.ndarray) and back["ids"].tolist() == [0, 1, 2, 3, 4]
    assert isinstance(back["x"], ms.Tensor) and back["x"].dtype == np.float64
    assert list(back["model"]) == list(model.state_dict())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(back["model"][k].numpy(), v.numpy())
        assert back["model"][k].dtype == v.dtype
    fresh = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    fresh.load_state_dict(back["model"])
    x = ms.randn(2, 3)
    np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    ms.save({"a": ms.ones(2)}, path)
    before = path.read_bytes()

    def boom(fd):
        raise OSError("disk full")
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        ms.save({"a": ms.zeros(1000)}, path)
    assert path.read_bytes() == before  # the old checkpoint is untouched
    assert os.listdir(tmp_path) == ["ck.npz"]  # and no temporary file is left behind


def test_unsupported_object_writes_nothing(tmp_path):
    with pytest.raises(TypeError, match="cannot store a set"):
        ms.save({"a": {1, 2}}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []
    with pytest.raises(TypeError, match="keys must be str or int"):
        ms.save({"a/b": 1}, tmp_path / "x.npz")


def test_truncated_file_gives_checkpoint_error(tmp_path):
    path = tmp_path / "ck.npz"
    ms.save({"w": ms.randn(100, 10)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ms.CheckpointError, match="truncated or not a minissl checkpoint"):
        ms.load(path)


def test_foreign_files_give_checkpoint_error(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ms.CheckpointError, match="nothing was loaded"):
        ms.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.ones(3))
    with pytest.raises(ms.CheckpointError, match="not a minissl checkpoint"):
        ms.load(plain)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        ms.load(tmp_path / "missing.npz")


def test_failed_load_leaves_model_unchanged(tmp_path):
    model = nn.Linear(2, 2)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ms.CheckpointError):
        model.load_state_dict(ms.load(bad))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
