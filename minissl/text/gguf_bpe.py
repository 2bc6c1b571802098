"""A GGUF file's byte-level BPE tokenizer, run by minissl's own :class:`ByteBPETokenizer`.

A GGUF language model carries its tokenizer in the metadata:

- ``tokenizer.ggml.tokens``: the vocabulary; the list index is the token id. Text
  tokens are written in GPT-2's printable alphabet, where each byte 0..255 stands
  for one visible character (space -> "Ġ", newline -> "Ċ", ...: :func:`bytes_to_unicode`).
- ``tokenizer.ggml.merges``: "left right" strings in the order they were learned.
- ``tokenizer.ggml.token_type``: 1 normal, 3 control (``<|im_start|>`` ...), 4 user-defined.

``tokenizer.chat_template`` is the Jinja template that lays out a conversation for an
instruction-tuned model (:meth:`GGUFTokenizer.apply_chat_template`).

That is exactly byte-level BPE with its own numbering. minissl's tokenizer numbers
tokens as bytes 0..255, then merge k -> 256 + k, then special tokens; so this class
rebuilds the merges as pairs of minissl ids, lets ByteBPETokenizer do the splitting
(GPT-2's pattern) and the merging, and translates ids at the boundary.
"""
from __future__ import annotations

import numpy as np

from .bpe import ByteBPETokenizer

NORMAL, CONTROL, USER_DEFINED = 1, 3, 4


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table: printable Latin-1 bytes stand for
    themselves; the other 68 bytes (controls, space, ...) take the characters from
    U+0100 upwards, in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class GGUFTokenizer:
    """``encode(text) -> list[int]`` and ``decode(ids) -> str`` in the GGUF file's ids."""

    def __init__(self, metadata: dict, where: str = "GGUF tokenizer"):
        model = metadata.get("tokenizer.ggml.model")
        if model != "gpt2":
            raise ValueError(f"{where}: tokenizer.ggml.model is {model!r}; minissl reads byte-level BPE ('gpt2')")
        tokens = list(metadata["tokenizer.ggml.tokens"])
        types = np.asarray(metadata.get("tokenizer.ggml.token_type", np.ones(len(tokens))))
        merges = metadata.get("tokenizer.ggml.merges", [])
        to_byte = {c: b for b, c in bytes_to_unicode().items()}
        self.vocab = {t: i for i, t in enumerate(tokens)}
        specials = [t for t, ty in zip(tokens, types) if ty in (CONTROL, USER_DEFINED)]
        mid = {bytes_to_unicode()[b]: b for b in range(256)}  # token string -> minissl id
        pairs = []
        for k, m in enumerate(merges):
            left, _, right = m.partition(" ")
            if left not in mid or right not in mid:
                raise ValueError(f"{where}: merge {k} {m!r} uses a token no earlier merge made")
            if left + right not in self.vocab:
                raise ValueError(f"{where}: merge {k} {m!r} makes {left + right!r}, which is not in the vocabulary")
            pairs.append((mid[left], mid[right]))
            mid[left + right] = 256 + k
        self.bpe = ByteBPETokenizer(pairs, pattern="gpt2", special_tokens=specials)
        # minissl id -> GGUF id (-1: a byte the vocabulary lacks, which valid UTF-8 never needs)
        self._to_gguf = np.full(self.bpe.vocab_size, -1, dtype=np.int64)
        for s, i in mid.items():
            self._to_gguf[i] = self.vocab.get(s, -1)
        for s, i in self.bpe.special_tokens.items():
            self._to_gguf[i] = self.vocab[s]
        self._bytes = [bytes(to_byte[c] for c in t) if ty == NORMAL else t.encode("utf-8")
                       for t, ty in zip(tokens, types)]
        self._special_ids = {self.vocab[s] for s in specials}
        self.bos_token_id = metadata.get("tokenizer.ggml.bos_token_id")
        self.eos_token_id = metadata.get("tokenizer.ggml.eos_token_id")
        self.chat_template = metadata.get("tokenizer.chat_template")

    @property
    def vocab_size(self) -> int:
        return len(self._bytes)

    def encode(self, text: str) -> list[int]:
        ids = self._to_gguf[self.bpe.encode(text)]
        if (ids < 0).any():
            raise ValueError("GGUFTokenizer.encode: the text holds a byte the vocabulary has no token for "
                             "(not valid UTF-8, e.g. a lone surrogate)")
        return ids.tolist()

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        ids = [int(i) for i in ids]
        bad = next((i for i in ids if not 0 <= i < len(self._bytes)), None)
        if bad is not None:
            raise ValueError(f"GGUFTokenizer.decode: id {bad} is outside the vocabulary (0..{len(self._bytes) - 1})")
        out = b"".join(self._bytes[i] for i in ids if not (skip_special_tokens and i in self._special_ids))
        return out.decode("utf-8", "replace")

    def apply_chat_template(self, messages, add_generation_prompt: bool = False, tokenize: bool = True):
        """A conversation ``[{"role": "user", "content": "..."}, ...]`` laid out by the file's
        ``tokenizer.chat_template``, as ``transformers``' method of that name: token ids
        (``tokenize=True``) or the text; ``add_generation_prompt`` opens the assistant's turn.

        SmolLM2's template (ChatML) gives ``<|im_start|>role\ncontent<|im_end|>\n`` per message,
        after a default system message. Rendered with Jinja in a sandbox, as transformers does."""
        if not self.chat_template:
            raise ValueError("this GGUF file has no tokenizer.chat_template; write the prompt yourself")
        try:
            from jinja2.sandbox import ImmutableSandboxedEnvironment
        except ImportError:
            raise ImportError("apply_chat_template renders the file's Jinja template: pip install jinja2") from None

        def raise_exception(message):
            raise ValueError(f"chat template: {message}")

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        tokens = {i: t for t, i in self.vocab.items() if i in (self.bos_token_id, self.eos_token_id)}
        text = env.from_string(self.chat_template).render(
            messages=list(messages), add_generation_prompt=add_generation_prompt,
            bos_token=tokens.get(self.bos_token_id, ""), eos_token=tokens.get(self.eos_token_id, ""))
        return self.encode(text) if tokenize else text
