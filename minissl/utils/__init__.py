"""``minissl.utils``: helpers outside the autograd core, named as in ``torch.utils``."""
from . import data  # noqa: F401
