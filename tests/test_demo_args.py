"""Every demo refuses a bad command line in one line, before it trains anything.

The parsers run in-process: each demo's ``main()`` is called with a bad
``sys.argv`` and its ``parse_args`` wrapped so that a parse that *succeeds*
raises ``Parsed`` instead of going on to train. A missing check therefore
fails the test at once (``Parsed`` instead of exit code 2) and never starts a
run; the whole file takes a few seconds.
"""
import argparse
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import DEMOS, import_demo  # noqa: E402

common = import_demo("common")

# every script in demos/ with a command line (common, ae_common and fashion_common are shared helpers)
DEMO_NAMES = sorted(p.stem for p in DEMOS.glob("*.py") if p.stem not in ("common", "ae_common", "fashion_common"))


class Parsed(Exception):
    """The command line was accepted: the demo would now start its run."""


def run_parse(name, argv, monkeypatch):
    """Call demo ``name``'s main() on ``argv``; stop it right after a successful parse."""
    mod = import_demo(name)
    monkeypatch.setattr(sys, "argv", [f"demos/{name}.py", *argv])
    if name == "tour":  # its own parser: stop after DemoArgumentParser.parse_args
        real = mod.DemoArgumentParser.parse_args

        def parse_only(self, *a, **k):
            real(self, *a, **k)
            raise Parsed
        monkeypatch.setattr(mod.DemoArgumentParser, "parse_args", parse_only)
        return mod.main(argv)
    real = mod.parse_args  # common.parse_args: the types, the cross-flag check, --out created

    def parse_only(*a, **k):
        real(*a, **k)
        raise Parsed
    monkeypatch.setattr(mod, "parse_args", parse_only)
    return mod.main()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Bad inputs on disk: a plain file where a folder is expected, and text files that are not text."""
    d = tmp_path_factory.mktemp("bad_inputs")
    (d / "a_file").write_text("not a folder")
    (d / "empty.txt").write_bytes(b"")
    (d / "blank.txt").write_text(" \n\n\t\n")
    (d / "zeros.bin").write_bytes(b"\x00" * 4096)
    (d / "latin1.txt").write_bytes("café au lait, crème brûlée\n".encode("latin-1") * 50)
    (d / "utf16.txt").write_bytes("plain English text\n".encode("utf-16") * 50)
    (d / "empty_folder").mkdir()
    (d / "folder_with_bad_file").mkdir()
    (d / "folder_with_bad_file" / "ok.txt").write_text("fine text\n")
    (d / "folder_with_bad_file" / "bad.txt").write_bytes(b"\xff\xfe\x00\x00" * 100)
    (d / "not_a_checkpoint").mkdir()
    return d


# (flag, value) pairs every demo must refuse; "{d}" is the folder of bad files
COMMON_BAD = [("--seed", "-1"), ("--seed", "1.5"), ("--seed", str(2**40)),
              ("--out", "{d}/a_file"), ("--out", "{d}/a_file/sub"), ("--out", "")]

SPECIFIC_BAD = {
    "autoencoders": [("--only", "reconstruction,foo"), ("--seeds", "0")],
    "ae_anomaly": [("--seeds", "0")], "ae_discrete": [("--seeds", "-1")], "ae_generative": [("--seeds", "x")],
    "ae_reconstruction": [("--seeds", "0")],
    "bert_embryology": [("--seeds", "0"), ("--steps", "0"), ("--steps", "-3"), ("--steps", "1e3")],
    "bert_pretrain_finetune": [("--steps", "0"), ("--steps", "-1"), ("--epochs", "0"), ("--lr", "0"),
                               ("--lr", "inf"), ("--p-mood", "1.5"), ("--seeds", "0"), ("--seeds", "1.5"),
                               ("--tasks", "sentimnt"), ("--tasks", ",")],
    "bert_real_text": [("--seeds", "0"), ("--arms", "minilm,bert"), ("--tasks", "genre"), ("--protocols", "probe"),
                       ("--protocols", ",")],
    "cbow_embeddings": [("--epochs", "0"), ("--dim", "0"), ("--dim", "ten"), ("--text", "{d}/missing.txt"),
                        ("--text", "{d}/empty.txt"), ("--text", "{d}/blank.txt"), ("--text", "{d}/zeros.bin"),
                        ("--text", "{d}/latin1.txt"), ("--text", "{d}/empty_folder"),
                        ("--text", "{d}/folder_with_bad_file")],
    "contextual_embeddings": [("--seeds", "0"), ("--seeds", "x")],
    "contrastive": [("--ssl-images", "0"), ("--sup-epochs", "0"), ("--sup-min-steps", "0"), ("--batch-size", "0"), ("--epochs", "0"), ("--seeds", "0"), ("--lr", "0"),
                    ("--lr", "nan"), ("--temperature", "-0.5"), ("--probe-steps", "-1"),
                    ("--merge", "{d}/empty_folder"), ("--merge", ",")],
    "gpt_chinese": [("--steps", "0"), ("--steps", "1.5")],
    "gpt_incontext": [("--steps", "0"), ("--steps", "-1")],
    "gpt_real": [("--items", "0"), ("--seeds", "-1"), ("--batch", "x"), ("--model", "{d}/missing.gguf"),
                 ("--model", "{d}/empty.txt")],
    "gpt_shakespeare": [("--steps", "0"), ("--steps", "ten"), ("--bpe-vocab", "256"), ("--bpe-vocab", "0")],
    "gpt_sort": [("--steps", "0"), ("--steps", "-1"), ("--steps", "1e3"), ("--length", "0"), ("--digits", "1"),
                 ("--length", "3")],  # 10**3 sequences: the 2,000 test draws leave almost none to train on
    "gpt_text": [("--steps", "0"), ("--steps", "-5"), ("--text", "{d}/missing.txt"), ("--text", "{d}/empty.txt"),
                 ("--text", "{d}/zeros.bin"), ("--text", "{d}/latin1.txt"), ("--text", "{d}/utf16.txt"),
                 ("--text", "{d}/empty_folder"), ("--preset", "huge")],
    "multilingual": [("--steps", "0"), ("--world-strength", "-1"), ("--word-order", "OSV"), ("--seeds", "0"),
                     ("--merge", "{d}/empty_folder"), ("--merge", ",")],
    "multilingual_real": [("--pairs", "fra,xyz"), ("--pairs", ","), ("--words", "0"), ("--words", "10"),
                          ("--random-seeds", "0"), ("--shuffles", "-1")],
    "seq2seq_denoise": [("--steps", "0"), ("--ft-steps", "0"), ("--n-labelled", "0"), ("--d-model", "30"),
                        ("--dropout", "1.5"), ("--objectives", "mask,foo"), ("--objectives", ","),
                        ("--corpus", "gramar"), ("--corpus", "{d}/latin1.txt"), ("--seeds", "0"), ("--seeds", "-2"),
                        ("--seeds", "x"), ("--merge", "{d}/empty_folder"), ("--merge", ",")],
    "t5_multitask": [("--seeds", "0"), ("--steps", "-1"), ("--ft-steps", "0"), ("--single-steps", "-2"),
                     ("--n-train", "x"), ("--d-model", "30"),
                     ("--layers", "0"), ("--lr", "0"), ("--ft-lr", "nan"), ("--dropout", "1.5"), ("--batch", "0"),
                     ("--eval-split", "train")],
    "tree_induction": [("--seeds", "0"), ("--steps", "0"), ("--steps", "x")],
    "text_as_representation": [("--seeds", "0"), ("--steps", "0"), ("--length", "0"), ("--lm-weight", "-1"),
                               ("--lr", "nan")],
    "tour": [("--only", "gpt_sort,gpt_txt")],
}

CASES = [(name, flag, value) for name in DEMO_NAMES for flag, value in COMMON_BAD + SPECIFIC_BAD.get(name, [])]


def test_every_demo_with_extra_flags_is_attacked():
    # a new demo, or a renamed one, must not slip through with only the common flags checked
    assert set(SPECIFIC_BAD) <= set(DEMO_NAMES)
    plain = {"autograd_basics", "bert_vs_cbow", "real_bert"}
    assert set(DEMO_NAMES) - set(SPECIFIC_BAD) == plain


@pytest.mark.parametrize("name,flag,value", CASES, ids=[f"{n}{f}={v}" for n, f, v in CASES])
def test_bad_argument_is_refused_in_one_line(name, flag, value, files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a default --out (runs/<demo>) must not land in the repository
    argv = [flag, value.format(d=files)]
    if flag != "--out":
        argv += ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as e:
        run_parse(name, argv, monkeypatch)
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err  # one line
    assert err.startswith(f"demos/{name}.py: error: ") and flag in err, err
    assert not (tmp_path / "out").exists()  # refused before anything was created


@pytest.mark.parametrize("name", DEMO_NAMES)
def test_good_arguments_still_parse(name, tmp_path, monkeypatch):
    # the validating types accept every default (argparse runs them on string defaults too)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Parsed):
        size = "--full" if name == "tour" else "--quick"
        run_parse(name, [size, "--seed", "3", "--out", str(tmp_path / "new" / "folder")], monkeypatch)


def test_valid_edge_values_are_accepted(tmp_path):
    assert common.positive_int("1") == 1 and common.nonneg_int("0") == 0
    assert common.seed("0") == 0 and common.seed(str(common.MAX_SEED)) == common.MAX_SEED
    assert common.prob("0") == 0.0 and common.prob("1") == 1.0 and common.positive_float("1e-9") == 1e-9
    assert common.multiple_of(4)("128") == 128 and common.one_of(0, 1, cast=int)("1") == 1
    assert common.comma_list("a", "b", empty_means_all=True)("") == ""
    assert common.output_dir(str(tmp_path)) == str(tmp_path)           # an existing folder
    assert common.output_dir(str(tmp_path / "x" / "y")) == str(tmp_path / "x" / "y")  # creatable
    assert not (tmp_path / "x").exists()  # checking does not create it; parse_args does, once all is valid


def test_a_utf8_character_split_by_the_sniffed_megabyte_is_not_an_error(tmp_path):
    # only the first 1 MB is decoded: a character that straddles its end is still valid UTF-8
    f = tmp_path / "long.txt"
    f.write_bytes(b"a" * ((1 << 20) - 1) + "é".encode() + b" and more text\n")
    assert common.existing_text_file(str(f)) == str(f)
    f.write_bytes(b"a" * 100 + "\ufeffé".encode())  # a byte-order mark is tolerated, as load_text reads it
    assert common.existing_text_file(str(f)) == str(f)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write into any folder")
def test_unwritable_out_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        for target in (locked, locked / "sub"):
            with pytest.raises(argparse.ArgumentTypeError, match="not writable"):
                common.output_dir(str(target))
    finally:
        locked.chmod(0o700)


def test_unwritable_out_folder_message(tmp_path, monkeypatch):
    # the same refusal where the test runs as root (which may write anywhere): the OS is asked, and says no
    monkeypatch.setattr(common.os, "access", lambda path, mode: False)
    with pytest.raises(argparse.ArgumentTypeError, match=r"is not writable \(.* denies writing\)"):
        common.output_dir(str(tmp_path / "sub"))
