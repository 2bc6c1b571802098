"""The GGUF tokenizer adapter (minissl/text/gguf_bpe.py): GPT-2's byte alphabet, a
hand-made vocabulary whose ids are worked out by hand, and -- slow, when the SmolLM2
file and transformers are here -- ids identical to transformers' tokenizer loaded from
the same GGUF on ~300 varied texts."""
import pathlib
import random
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # tests/ helpers (pytest runs in importlib mode)
from gguf_files import SMOLLM2_INSTALL, find_smollm2  # noqa: E402

from minissl.text.gguf_bpe import GGUFTokenizer, bytes_to_unicode  # noqa: E402


def test_gpt2_byte_alphabet():
    t = bytes_to_unicode()
    assert len(set(t.values())) == 256
    assert t[ord(" ")] == "Ġ" and t[ord("\n")] == "Ċ" and t[ord("a")] == "a" and t[0] == "Ā"


def _meta():
    # ids: 0 special, 1.. the characters used, then the merge results (not in merge order)
    tokens = ["<|s|>", "h", "e", "l", "o", "Ġ", "w", "r", "d", "ll", "he", "Ġw", "hell", "hello"]
    merges = ["l l", "h e", "Ġ w", "he ll", "hell o"]
    return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": np.array([3] + [1] * 13, np.int32), "tokenizer.ggml.merges": merges}


def test_hand_made_vocabulary():
    tok = GGUFTokenizer(_meta())
    # "hello" -> h e l l o -> h e ll o -> he ll o -> hell o -> hello ; " world" -> Ġw o r l d
    assert tok.encode("hello world<|s|>") == [13, 11, 4, 7, 3, 8, 0]
    assert tok.decode([13, 11, 4, 7, 3, 8, 0]) == "hello world<|s|>"
    assert tok.decode([13, 0], skip_special_tokens=True) == "hello"
    with pytest.raises(ValueError, match="no token for"):
        tok.encode("hellö")  # 'ö' is two bytes this toy vocabulary lacks
    with pytest.raises(ValueError, match="id 14 is outside the vocabulary"):
        tok.decode([1, 14])
    with pytest.raises(ValueError, match="merge 0 'hell o' uses a token no earlier merge made"):
        GGUFTokenizer({**_meta(), "tokenizer.ggml.merges": ["hell o"]})
    with pytest.raises(ValueError, match="merge 0 'x y' makes 'xy', which is not in the vocabulary"):
        GGUFTokenizer({**_meta(), "tokenizer.ggml.merges": ["x y"]})
    with pytest.raises(ValueError, match="tokenizer.ggml.model is 'llama'"):
        GGUFTokenizer({**_meta(), "tokenizer.ggml.model": "llama"})


TEXTS_EXTRA = ["def f(x):\n    return x ** 2  # square\n\n\n", "  leading and   multiple   spaces\t\ttabs\n\n",
               "你好，世界！今天天气很好。", "机器学习是人工智能的一个分支。", "🙂🙃 emoji 👩‍👩‍👧 family",
               "naïve café résumé", "12345 67890 3.14159", "<|im_start|>user\nHi<|im_end|>\n", "   ", "\n",
               "", "I'm you're we've they'll she'd", "x" * 300, "日本語のテキスト", "Ünïcödé ßtraße",
               "a\u00a0b\u2003c", "for (int i = 0; i < n; ++i) { s += a[i]; }", "    \n\n    \t",
               "Ἀθῆναι Москва القاهرة"]


@pytest.mark.slow  # transformers takes ~20 s to build its tokenizer from the GGUF
@pytest.mark.skipif(find_smollm2() is None, reason=f"the SmolLM2 GGUF is not here; {SMOLLM2_INSTALL}")
def test_smollm2_ids_equal_transformers():
    pytest.importorskip("gguf")
    transformers = pytest.importorskip("transformers")
    import pydoc_data.topics

    from minissl.gguf import read_gguf
    path = find_smollm2()
    tok = GGUFTokenizer(read_gguf(path).metadata)
    ref = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    rng = random.Random(0)
    docs = list(pydoc_data.topics.topics.values())
    starts = [(d, rng.randrange(max(1, len(d) - 400))) for d in docs for _ in range(4)]
    texts = [d[i:i + rng.randint(20, 400)] for d, i in rng.sample(starts, 300)] + TEXTS_EXTRA
    for s in texts:
        ids = tok.encode(s)
        assert ids == ref.encode(s, add_special_tokens=False), repr(s[:80])
        assert tok.decode(ids) == ref.decode(ids) == s
