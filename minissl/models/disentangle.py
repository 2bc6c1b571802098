"""Feature disentanglement: one part of the code says *what*, the other *how*.

Lecture idea (voice conversion): if an auto-encoder's code splits into a
content part (what is said) and a speaker part (how it sounds), decoding the
content of one recording with the speaker part of another converts the voice.
Here the "content" of a digit image is its class and the "style" is how it is
written (slant, stroke width, size); swapping styles redraws a 3 in the hand
that wrote a 7.

Two forces split the code:

* classification: the content encoder must predict the digit (cross-entropy);
  its code is the one-hot of its prediction (straight-through), so it cannot
  carry anything but the class;
* adversary: a small classifier A tries to read the class from the style code,
  while the style encoder is trained to make A's guess uniform,
      L_adv(A)     = CE(A(sg[s]), y)                   (A learns to read the class)
      L_confuse(s) = CE(sg[A](s), uniform)             (s learns to hide it)
  At equilibrium the style code holds no class information and the decoder
  must take the class from the content code.

total = MSE(x̂, x) + w_cls·CE(content, y) + w_adv·L_confuse + L_adv, one backward:
the ``sg`` (stop-gradient) on each side keeps the two players' gradients apart.
Shapes: x (N, D), y (N,) -> content (N, C) one-hot, style (N, S).
Demo: ``demos/autoencoders.py`` (style swaps, style-probe accuracy).
"""
from __future__ import annotations

from .. import nn
from ..nn import functional as F
from ..ops import cat
from ..tensor import Tensor
from .autoencoder import mlp
from .discrete import one_hot, straight_through


def _frozen(net: nn.Sequential, x: Tensor) -> Tensor:
    """Run ``net`` with its weights detached: gradients reach x but not the weights."""
    for layer in net:
        if isinstance(layer, nn.Linear):
            x = F.linear(x, layer.weight.detach(), None if layer.bias is None else layer.bias.detach())
        else:
            x = layer(x)
    return x


class DisentangledAutoEncoder(nn.Module):
    def __init__(self, in_dim: int, num_classes: int = 10, style_dim: int = 8, hidden=(256,),
                 cls_weight: float = 1.0, adv_weight: float = 1.0):
        super().__init__()
        hidden = tuple(hidden)
        self.num_classes, self.style_dim = num_classes, style_dim
        self.cls_weight, self.adv_weight = cls_weight, adv_weight
        self.content_encoder = mlp((in_dim, *hidden, num_classes))
        self.style_encoder = mlp((in_dim, *hidden, style_dim))
        self.decoder = mlp((num_classes + style_dim, *hidden[::-1], in_dim))
        self.adversary = mlp((style_dim, 64, num_classes))

    def content(self, x: Tensor):
        """(class logits, one-hot content code with a straight-through gradient)."""
        logits = self.content_encoder(x)
        soft = F.softmax(logits, dim=-1)
        return logits, straight_through(one_hot(soft.array.argmax(axis=-1), self.num_classes, soft.dtype), soft)

    def style(self, x: Tensor) -> Tensor:
        return self.style_encoder(x)

    def decode(self, content: Tensor, style: Tensor) -> Tensor:
        return self.decoder(cat([content, style], dim=1)).sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.content(x)[1], self.style(x))

    def swap(self, content_from: Tensor, style_from: Tensor) -> Tensor:
        """Draw the digit of ``content_from[i]`` in the style of ``style_from[i]``."""
        return self.decode(self.content(content_from)[1], self.style(style_from))

    def losses(self, x: Tensor, y) -> dict:
        logits, content = self.content(x)
        s = self.style(x)
        rec = F.mse_loss(self.decode(content, s), x)
        cls = F.cross_entropy(logits, y)
        confuse = F.cross_entropy(_frozen(self.adversary, s), y, label_smoothing=1.0)  # CE to the uniform distribution
        adv = F.cross_entropy(self.adversary(s.detach()), y)
        total = rec + self.cls_weight * cls + self.adv_weight * confuse + adv
        return dict(total=total, rec=rec, cls=cls, confuse=confuse, adv=adv)
