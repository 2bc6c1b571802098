"""The lecture's models, one idea a file: ``cbow``, ``bert``, ``gpt``, ``llama`` (real GGUF models),
``seq2seq``, ``autoencoder``, ``vqvae``, ``vae``, ``contrastive``. Import them by module, e.g.
``from minissl.models.bert import BertModel``; ``model, tokenizer = minissl.models.load_gguf(path)``
opens a pre-trained Llama-family GGUF file."""
from .llama import load_gguf  # noqa: F401
