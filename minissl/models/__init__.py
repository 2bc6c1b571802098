"""The lecture's models, one idea a file: ``cbow``, ``bert``, ``gpt``, ``seq2seq``,
``autoencoder``, ``vqvae``, ``vae``, ``contrastive``. Import them by module, e.g.
``from minissl.models.bert import BertModel``."""
