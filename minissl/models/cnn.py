"""Small convolutional networks for 28×28 grey images (Fashion-MNIST): the encoders and decoders
that SimCLR, BYOL and every auto-encoder in :mod:`minissl.models` share.

Why convolutions: a picture's statistics are the same at every position, so one
3×3 filter slid over the image (weights shared across positions) needs 9 numbers
where a dense layer needs 784 per output. Stacking 3×3 layers with 2× down-sampling
gives each feature a wider view (receptive field 3, 8, 18 pixels here) at a cost the
2-core demos can afford.

Shapes: images go in flat, x (N, 784), or as (N, 1, 28, 28); flat is the auto-encoders'
layout (one row per image, the same as their MLP versions and PCA).

* :func:`cnn_encoder` — the representation network of SimCLR/BYOL and the supervised
  baseline: three Conv3×3 → BatchNorm → ReLU blocks (28→14→7 by max pooling), then a
  2×2 average pool: features (N, 4·C₃).
* :class:`ConvEncoder` — auto-encoder encoder: two stride-2 convolutions (28→14→7),
  then a linear map to ``out_dim`` numbers (a code, (μ, log σ²), or L·D VQ vectors).
* :class:`ConvDecoder` — its mirror: linear → (C, 7, 7) → two stride-2 transposed
  convolutions (7→14→28) → logits (N, 784). Apply a sigmoid for pixels in [0, 1].
"""
from __future__ import annotations

from .. import nn

SIDE = 28


def as_images(x, side: int = SIDE):
    """(N, side²) or (N, 1, side, side) -> (N, 1, side, side); anything else is refused."""
    if x.ndim == 4 and tuple(x.shape[1:]) == (1, side, side):
        return x
    if x.ndim == 2 and x.shape[1] == side * side:
        return x.reshape(x.shape[0], 1, side, side)
    raise ValueError(f"expected grey {side}x{side} images as (N, {side * side}) or (N, 1, {side}, {side}), "
                     f"got shape {tuple(x.shape)}")


class _Images(nn.Module):
    """Reshape flat rows to (N, 1, side, side); images already in that shape pass through."""

    def __init__(self, side: int = SIDE):
        super().__init__()
        self.side = side

    def forward(self, x):
        return as_images(x, self.side)


def _block(c_in, c_out, pool):
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    return layers + ([nn.MaxPool2d(2)] if pool else [])


def cnn_encoder(channels=(16, 32, 64), side: int = SIDE) -> nn.Sequential:
    """Conv-BN-ReLU ×3 (max pool after the first two), 2×2 average pool, flatten: (N, 784) -> (N, 4·channels[-1]).

    ``feature_dim(enc)`` gives the output width. The default costs about 2 M multiply-adds
    per image; with 64 channels at the end it gives 256 features."""
    c1, c2, c3 = channels
    net = nn.Sequential(_Images(side), *_block(1, c1, True), *_block(c1, c2, True), *_block(c2, c3, False),
                        nn.AdaptiveAvgPool2d(2), nn.Flatten())
    net.feature_dim = 4 * c3
    return net


class ConvEncoder(nn.Module):
    """(N, 784) -> Conv(1→c₁, 3, stride 2) → ReLU → Conv(c₁→c₂, 3, stride 2) → ReLU → Linear -> (N, out_dim)."""

    def __init__(self, out_dim: int, channels=(16, 32), side: int = SIDE):
        super().__init__()
        c1, c2 = channels
        self.side, self.out_dim = side, out_dim
        self.convs = nn.Sequential(_Images(side), nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(),
                                   nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
        self.fc = nn.Linear(c2 * (side // 4) ** 2, out_dim)

    def forward(self, x):
        return self.fc(self.convs(x))


class ConvDecoder(nn.Module):
    """(N, in_dim) -> Linear → ReLU → (c₂, 7, 7) → ConvT(c₂→c₁, 4, stride 2) → ReLU → ConvT(c₁→1, 4, stride 2)
    -> logits (N, 784). A 4×4 kernel at stride 2 covers every output pixel equally often (no
    checkerboard from uneven overlap, which a 3×3 kernel at stride 2 has)."""

    def __init__(self, in_dim: int, channels=(16, 32), side: int = SIDE):
        super().__init__()
        c1, c2 = channels
        self.side, self.small = side, side // 4
        self.fc = nn.Sequential(nn.Linear(in_dim, c2 * self.small ** 2), nn.ReLU())
        self.c2 = c2
        self.deconvs = nn.Sequential(nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
                                     nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1), nn.Flatten())

    def forward(self, z):
        h = self.fc(z).reshape(z.shape[0], self.c2, self.small, self.small)
        return self.deconvs(h)
