"""The Llama decoder read from GGUF: a small random Llama written by the test (fast), then the real
SmolLM2-135M (slow), against transformers' LlamaForCausalLM loaded from the same file."""
import pathlib
import sys

import numpy as np
import pytest

import minissl as ms
from minissl.models import load_gguf
from minissl.models.llama import LlamaConfig, LlamaForCausalLM, expand_cache, unpermute_rows
from minissl.text.gguf_bpe import bytes_to_unicode

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # tests/ helpers (pytest runs in importlib mode)
from gguf_files import SMOLLM2_INSTALL, find_smollm2  # noqa: E402

gguf = pytest.importorskip(  # noqa: E402
    "gguf", reason="the gguf package writes the test's GGUF file (pip install gguf)")

TINY = dict(vocab_size=262, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=500.0, max_position_embeddings=64)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = ["Ġ t", "h e", "Ġt he"]
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def permute_rows(w, n_heads):
    """Hugging Face's half-split query/key rows -> llama.cpp's interleaved order (what its converter writes)."""
    out, cols = w.shape
    return w.reshape(n_heads, 2, out // n_heads // 2, cols).swapaxes(1, 2).reshape(out, cols)


def hf_weights(seed=0):
    """Random weights under Hugging Face Llama names (float32), norms near 1."""
    c, rng = TINY, np.random.default_rng(seed)
    E, F, V, kv = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["hidden_size"] // 2
    r = lambda *s: (rng.standard_normal(s) * 0.2).astype(np.float32)  # noqa: E731
    w = {"model.embed_tokens.weight": r(V, E), "model.norm.weight": 1 + r(E)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w.update({p + "input_layernorm.weight": 1 + r(E), p + "post_attention_layernorm.weight": 1 + r(E),
                  p + "self_attn.q_proj.weight": r(E, E), p + "self_attn.k_proj.weight": r(kv, E),
                  p + "self_attn.v_proj.weight": r(kv, E), p + "self_attn.o_proj.weight": r(E, E),
                  p + "mlp.gate_proj.weight": r(F, E), p + "mlp.up_proj.weight": r(F, E),
                  p + "mlp.down_proj.weight": r(E, F)})
    return w


def write_tiny_gguf(path, w, arch="llama", drop=None):
    """The weights as llama.cpp's converter lays them out (q/k rows interleaved; embedding Q8_0)."""
    c = TINY
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(c["num_hidden_layers"])
    writer.add_embedding_length(c["hidden_size"])
    writer.add_feed_forward_length(c["intermediate_size"])
    writer.add_head_count(c["num_attention_heads"])
    writer.add_head_count_kv(c["num_key_value_heads"])
    writer.add_rope_freq_base(c["rope_theta"])
    writer.add_layer_norm_rms_eps(c["rms_norm_eps"])
    writer.add_context_length(c["max_position_embeddings"])
    writer.add_vocab_size(c["vocab_size"])
    writer.add_tokenizer_model("gpt2")
    byte_chars = [bytes_to_unicode()[b] for b in range(256)]
    tokens = byte_chars + ["Ġt", "he", "Ġthe"] + SPECIALS
    writer.add_token_list(tokens)
    writer.add_token_types([1] * (len(tokens) - 3) + [3, 3, 3])
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(tokens.index("<|im_start|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_chat_template(CHATML)
    H, Hkv = c["num_attention_heads"], c["num_key_value_heads"]
    emb = w["model.embed_tokens.weight"]
    q8 = gguf.GGMLQuantizationType.Q8_0  # the byte rows (V, E/32·34); the writer derives (V, E)
    writer.add_tensor("token_embd.weight", gguf.quants.quantize(emb, q8), raw_dtype=q8)
    writer.add_tensor("output_norm.weight", w["model.norm.weight"])
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for i in range(c["num_hidden_layers"]):
        for hf, ours in names.items():
            t = w[f"model.layers.{i}.{hf}.weight"]
            t = permute_rows(t, H) if hf.endswith("q_proj") else permute_rows(t, Hkv) if hf.endswith("k_proj") else t
            if drop != f"blk.{i}.{ours}.weight":
                writer.add_tensor(f"blk.{i}.{ours}.weight", t)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    w = hf_weights()
    path = write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf", w)
    return path, w


def hf_model(torch, w, path=None):
    """transformers' LlamaForCausalLM: from the GGUF file itself when it can read it, else from ``w``."""
    transformers = pytest.importorskip("transformers")
    if path is not None:
        pytest.importorskip("accelerate", reason="transformers needs accelerate to load a GGUF file")
        return transformers.LlamaForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                             dtype=torch.float32).eval()
    cfg = transformers.LlamaConfig(**TINY, tie_word_embeddings=True, attention_bias=False, mlp_bias=False)
    m = transformers.LlamaForCausalLM(cfg).eval()
    m.load_state_dict({k: torch.tensor(v) for k, v in w.items()}, strict=False)
    return m


IDS = np.array([[5, 260, 17, 99, 3, 200, 42, 7, 1], [8, 8, 258, 120, 64, 31, 2, 77, 250]])


def test_logits_match_transformers_reading_the_same_gguf(tiny):
    torch = pytest.importorskip("torch")
    path, w = tiny
    model, _ = load_gguf(path)
    ref = hf_model(torch, w, path)
    with torch.no_grad():
        want = ref(torch.tensor(IDS)).logits.numpy()
    got = model(IDS).logits.numpy()
    assert got.shape == (2, 9, TINY["vocab_size"])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_greedy_generation_matches_transformers_with_and_without_cache(tiny):
    torch = pytest.importorskip("torch")
    path, w = tiny
    model, tok = load_gguf(path)
    ref = hf_model(torch, w, path)
    for row in IDS:  # transformers stops at the file's eos token (<|im_end|>), so does minissl when told
        with torch.no_grad():
            want = ref.generate(torch.tensor(row[None]), max_new_tokens=12, do_sample=False,
                                pad_token_id=0).numpy()
        for use_cache in (True, False):
            got = model.generate(row, 12, eos_token_id=tok.eos_token_id, use_cache=use_cache)
            assert got.tolist() == want.tolist()


def test_left_padded_batch_generates_what_each_prompt_does_alone(tiny):
    model, _ = load_gguf(tiny[0])
    prompts = [[5, 260, 17, 99, 3], [8, 258], [40, 41, 42, 43]]
    T = max(map(len, prompts))
    ids = np.array([[0] * (T - len(p)) + p for p in prompts])
    mask = np.array([[0] * (T - len(p)) + [1] * len(p) for p in prompts])
    batch = model.generate(ids, 6, attention_mask=mask)
    for p, row in zip(prompts, batch):
        assert row[T:].tolist() == model.generate(np.array([p]), 6)[0, len(p):].tolist()


def test_a_shared_prefix_cache_continues_like_the_whole_prompt(tiny):
    """Demonstrations run once (batch 1), repeated for every query: same tokens as full prompts."""
    model, _ = load_gguf(tiny[0])
    prefix, queries = [5, 260, 17, 99], [[3, 200], [42]]
    cache = model.new_cache()
    model(np.array([prefix]), cache=cache)
    cache = expand_cache(cache, 2)
    ids, mask = np.array([[3, 200], [0, 42]]), np.array([[1] * 6, [1, 1, 1, 1, 0, 1]])
    got = model.generate(ids, 5, attention_mask=mask, cache=cache)
    for q, row in zip(queries, got):
        assert row[2:].tolist() == model.generate(np.array([prefix + q]), 5)[0, len(prefix) + len(q):].tolist()


def test_tied_head_unpermuted_rows_and_config_from_metadata(tiny):
    path, w = tiny
    model, tok = load_gguf(path)
    assert model.lm_head.weight is model.embed_tokens.weight
    c = model.config
    assert (c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.rope_theta) == (2, 4, 2, 500.0)
    np.testing.assert_array_equal(model.layers[1].attn.k_proj.weight.numpy(),
                                  w["model.layers.1.self_attn.k_proj.weight"])
    assert tok.encode(" the") == [258] and tok.decode([258, 104]) == " theh"
    x = np.random.default_rng(0).standard_normal((8, 5))
    np.testing.assert_array_equal(unpermute_rows(permute_rows(x, 2), 2), x)


def test_chat_template_lays_out_the_conversation(tiny):
    pytest.importorskip("jinja2", reason="the chat template is Jinja (pip install jinja2)")
    _, tok = load_gguf(tiny[0])
    msgs = [{"role": "user", "content": "the"}]
    text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>user\nthe<|im_end|>\n<|im_start|>assistant\n"
    assert tok.apply_chat_template(msgs, add_generation_prompt=True) == tok.encode(text)


def test_sampling_options_stay_within_top_k(tiny):
    model, _ = load_gguf(tiny[0])
    logits = model(IDS[:1]).logits.numpy()[0, -1]
    top2 = set(np.argsort(logits)[-2:].tolist())
    rng = np.random.default_rng(0)
    drawn = {int(model.generate(IDS[0], 1, do_sample=True, top_k=2, temperature=1.5, rng=rng)[0, -1])
             for _ in range(20)}
    assert drawn <= top2 and len(drawn) == 2
    greedy = model.generate(IDS[0], 1, do_sample=True, top_p=1e-6, rng=rng)[0, -1]
    assert greedy == int(np.argmax(logits))


def test_labels_give_the_next_token_loss_and_gradients_flow():
    ms.manual_seed(0)
    m = LlamaForCausalLM(LlamaConfig(**TINY))
    out = m(IDS, labels=IDS)
    logp = out.logits.numpy()[:, :-1] - np.log(np.exp(out.logits.numpy()[:, :-1]).sum(-1, keepdims=True))
    want = -np.take_along_axis(logp, IDS[:, 1:, None], -1).mean()
    assert out.loss.item() == pytest.approx(want, rel=1e-5)
    out.loss.backward()
    assert all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize("problem,words", [("arch", "general.architecture"), ("missing", "blk.1.ffn_up.weight: missing")])
def test_bad_files_are_refused_in_one_error(tmp_path, problem, words):
    w = hf_weights()
    path = write_tiny_gguf(tmp_path / "bad.gguf", w, arch="gpt2" if problem == "arch" else "llama",
                           drop="blk.1.ffn_up.weight" if problem == "missing" else None)
    with pytest.raises(ValueError, match=words):
        load_gguf(path)


# ---------------------------------------------------------------------- the real SmolLM2-135M
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time", "The chemical symbol for gold is",
           "Water boils at", "1, 2, 3, 4,", "The largest planet in the solar system is", "import numpy as np\n",
           "Translate to French: cat ->", "The opposite of hot is", "My favourite food is", "In 1492, Columbus",
           "The quick brown fox", "Shakespeare wrote", "A neural network is", "The square root of 16 is",
           "Paris is to France as Rome is to", "for i in range(10):", "The sun rises in the", "Photosynthesis is"]


@pytest.fixture(scope="module")
def smollm2():
    path = find_smollm2()
    if path is None:
        pytest.skip(f"SmolLM2 GGUF not installed: {SMOLLM2_INSTALL}")
    model, tok = load_gguf(path)
    return path, model, tok


@pytest.mark.slow
def test_smollm2_logits_and_greedy_generations_match_transformers(smollm2):
    torch = pytest.importorskip("torch")
    path, model, tok = smollm2
    ref = hf_model(torch, None, path)
    for text in PROMPTS[:4]:
        ids = np.array([tok.encode(text)])
        with torch.no_grad():
            want = ref(torch.tensor(ids)).logits.numpy()
        np.testing.assert_allclose(model(ids).logits.numpy(), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    prompts = [tok.encode(t) for t in PROMPTS]
    T = max(map(len, prompts))
    ids = np.array([[tok.eos_token_id] * (T - len(p)) + p for p in prompts])
    mask = np.array([[0] * (T - len(p)) + [1] * len(p) for p in prompts])
    cached = model.generate(ids, 32, attention_mask=mask)
    uncached = model.generate(ids, 32, attention_mask=mask, use_cache=False)
    assert cached.tolist() == uncached.tolist()
    eos = ref.generation_config.eos_token_id
    eos = eos if isinstance(eos, list) else [eos]
    for p, row in zip(prompts, cached):  # transformers stops at the file's eos token; minissl was not told to
        with torch.no_grad():
            want = ref.generate(torch.tensor([p]), max_new_tokens=32, do_sample=False).numpy()[0, len(p):]
        assert len(want) == 32 or want[-1] in eos, tok.decode(p)
        assert row[T:T + len(want)].tolist() == want.tolist(), tok.decode(p)


@pytest.mark.slow
def test_smollm2_instruct_answers_through_the_chat_template(smollm2):
    _, model, tok = smollm2
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True)
    out = model.generate(np.array([ids]), 16, eos_token_id=tok.eos_token_id)
    assert "Paris" in tok.decode(out[0, len(ids):])
