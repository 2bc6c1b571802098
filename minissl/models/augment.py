"""Batched image augmentations for SimCLR and BYOL, on the backend (``xp``).

Self-supervised learning on images needs *two views* of one picture that a
human would call "the same digit". What the augmentations leave unchanged is
exactly what the encoder is pushed to represent, so they encode our prior
about the task: a digit stays itself when it is moved a pixel, zoomed a
little, tilted, partly covered, made noisier, brighter or fainter.

Every augmentation is drawn independently per image and applied to the whole
batch at once (no Python loop over images), so it runs on a GPU unchanged:

* random affine warp = shift + crop-and-resize (zoom) + small rotation + mirror
  image, done by bilinear sampling: output pixel p reads the input at
  A·(p - c) + c + t. A *random resized crop* (SimCLR's main augmentation: a
  box covering a random share of the area, with a random aspect ratio,
  stretched back to full size) is the diagonal part of A plus the shift t;
  a horizontal flip negates A's second column;
* cut-out: a random square set to zero;
* Gaussian noise;
* brightness / contrast: x ← (x - mean)·c + mean + b.

Colour jitter (SimCLR's second key augmentation) changes hue and saturation as
well as brightness and contrast. A grey image has no hue or saturation, so only
its brightness/contrast part applies; the Fashion-MNIST preset
(:func:`fashion_augment`) keeps that part mild, since the grey level of a
garment (a white T-shirt, a black bag) is itself a cue worth keeping.

Images are (N, H, W) (or (N, H·W) for square images) with values in [0, 1];
the result has the same shape and dtype. Used by :mod:`minissl.models.contrastive`
and ``demos/contrastive.py``.
"""
from __future__ import annotations

import math

from .. import backend
from ..backend import xp


def _image_shape(x):
    if x.ndim == 3:
        return x, x.shape[1:], False
    if x.ndim == 2:
        side = int(round(math.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ValueError(f"augment: flat images of {x.shape[1]} pixels are not square; pass (N, H, W) instead")
        return x.reshape(-1, side, side), (side, side), True
    raise ValueError(f"augment: expected images (N, H, W) or flat square images (N, H*W), got shape {x.shape}")


def affine_warp(x, theta, shift):
    """Bilinear resampling of images ``x`` (N, H, W) by per-image 2×2 matrices ``theta`` (N, 2, 2)
    and shifts ``shift`` (N, 2) (pixels, (row, col)); outside the image reads as 0."""
    x, theta, shift = xp.asarray(x), xp.asarray(theta), xp.asarray(shift)  # host arrays go to the device
    n, h, w = x.shape
    c = xp.asarray([(h - 1) / 2, (w - 1) / 2], dtype=x.dtype)
    rows, cols = xp.meshgrid(xp.arange(h, dtype=x.dtype), xp.arange(w, dtype=x.dtype), indexing="ij")
    grid = xp.stack([rows.reshape(-1), cols.reshape(-1)], axis=1) - c  # (HW, 2), centred
    src = xp.einsum("nij,pj->npi", theta, grid) + c + shift[:, None, :]  # (N, HW, 2): where each output pixel reads
    # Pad with a ring of zeros so that every 2×2 neighbourhood we read exists; clip beyond that ring.
    pad = xp.zeros((n, h + 2, w + 2), dtype=x.dtype)
    pad[:, 1:-1, 1:-1] = x
    r = xp.clip(src[..., 0] + 1, 0, h + 1)
    q = xp.clip(src[..., 1] + 1, 0, w + 1)
    r0 = xp.minimum(xp.floor(r), h).astype(xp.int64)  # so that r0 + 1 is still inside the padded image
    q0 = xp.minimum(xp.floor(q), w).astype(xp.int64)
    fr, fq = r - r0, q - q0
    flat = pad.reshape(n, -1)
    wp = w + 2

    def at(rr, qq):
        return xp.take_along_axis(flat, rr * wp + qq, axis=1)

    out = ((1 - fr) * (1 - fq) * at(r0, q0) + (1 - fr) * fq * at(r0, q0 + 1)
           + fr * (1 - fq) * at(r0 + 1, q0) + fr * fq * at(r0 + 1, q0 + 1))
    return out.reshape(n, h, w).astype(x.dtype, copy=False)


class Augment:
    """A random view of every image in a batch: ``Augment()(x)`` with x (N, H, W) or (N, H·W) in [0, 1].

    Defaults are tuned for 8×8 digits: strong enough that two views of a digit
    differ more than two different writers' versions of it sometimes do, weak
    enough that the digit stays recognisable (a 4 must not become a 1).

    Args:
        shift: max translation in pixels (uniform in ±shift, per axis).
        scale: (low, high) zoom factor; > 1 zooms in, i.e. crop-and-resize.
        rotate: max rotation in degrees.
        cutout: side of the zeroed square (0 disables); applied with probability ``cutout_p``.
        noise: standard deviation of the added Gaussian noise.
        brightness: max additive brightness change; ``contrast``: max relative contrast change.
        crop_area: (low, high) share of the image area kept by a random resized crop
            (None: no crop; the crop replaces ``scale`` and ``shift`` then).
        ratio: (low, high) aspect ratio (width / height) of the crop box, drawn log-uniformly.
        flip: probability of a left-right mirror image.
    """

    def __init__(self, shift=1.0, scale=(0.85, 1.2), rotate=12.0, cutout=3, cutout_p=0.5, noise=0.1,
                 brightness=0.2, contrast=0.4, crop_area=None, ratio=(3 / 4, 4 / 3), flip=0.0):
        if scale[0] <= 0 or scale[1] < scale[0]:
            raise ValueError(f"Augment: scale must be (low, high) with 0 < low <= high, got {scale}")
        if crop_area is not None and not 0 < crop_area[0] <= crop_area[1] <= 1:
            raise ValueError(f"Augment: crop_area must be (low, high) with 0 < low <= high <= 1, got {crop_area}")
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"Augment: ratio must be (low, high) with 0 < low <= high, got {ratio}")
        if not 0 <= flip <= 1:
            raise ValueError(f"Augment: flip is a probability in [0, 1], got {flip}")
        self.shift, self.scale, self.rotate = shift, tuple(scale), rotate
        self.cutout, self.cutout_p, self.noise = int(cutout), cutout_p, noise
        self.brightness, self.contrast = brightness, contrast
        self.crop_area, self.ratio, self.flip = crop_area, tuple(ratio), flip

    def __call__(self, x, rng=None):
        rng = rng or backend.rng()
        x, (h, w), flat = _image_shape(xp.asarray(x))
        n, dt = x.shape[0], x.dtype

        def u(lo, hi, *shape):  # uniform draws on the backend, one per image
            return (rng.random((n,) + shape, dtype=xp.float64) * (hi - lo) + lo).astype(dt)

        # Sampling at A·p means the picture is scaled by 1/A: zoom s reads at p / s.
        if self.crop_area is None:
            sr = sc = 1 / u(*self.scale)
            shift = u(-self.shift, self.shift, 2)
        else:  # a box of area share s and aspect ratio r: rows √(s/r), columns √(s·r) of the image
            area = u(*self.crop_area)
            r = xp.exp(u(math.log(self.ratio[0]), math.log(self.ratio[1])))
            sr, sc = xp.minimum(xp.sqrt(area / r), 1), xp.minimum(xp.sqrt(area * r), 1)
            room = xp.stack([(1 - sr) * (h - 1) / 2, (1 - sc) * (w - 1) / 2], 1)  # the box stays inside
            shift = u(-1, 1, 2) * room
        if self.flip > 0:
            sc = sc * xp.where(rng.random(n) < self.flip, -1, 1).astype(dt)
        a = u(-1, 1) * math.radians(self.rotate)
        cos, sin = xp.cos(a), xp.sin(a)
        theta = xp.stack([xp.stack([cos * sr, -sin * sc], 1), xp.stack([sin * sr, cos * sc], 1)], 1)
        x = affine_warp(x, theta, shift)
        if self.cutout > 0 and self.cutout_p > 0:
            k = self.cutout
            # integer corners from uniform draws (the same call on NumPy's and CuPy's generators)
            top = xp.floor(rng.random((n, 1, 1)) * (h - k + 1)).astype(xp.int64)
            left = xp.floor(rng.random((n, 1, 1)) * (w - k + 1)).astype(xp.int64)
            rows, cols = xp.arange(h)[None, :, None], xp.arange(w)[None, None, :]
            hole = (rows >= top) & (rows < top + k) & (cols >= left) & (cols < left + k)
            hole &= (rng.random((n, 1, 1)) < self.cutout_p)
            x = xp.where(hole, xp.zeros((), dtype=dt), x)
        mean = x.mean(axis=(1, 2), keepdims=True)
        c = 1 + u(-self.contrast, self.contrast, 1, 1)
        b = u(-self.brightness, self.brightness, 1, 1)
        x = (x - mean) * c + mean + b
        if self.noise > 0:
            x = x + (rng.standard_normal(x.shape, dtype=xp.float32) * self.noise).astype(dt)
        x = x.astype(dt, copy=False)
        return x.reshape(n, h * w) if flat else x


def fashion_augment() -> Augment:
    """SimCLR's recipe scaled to 28×28 grey garments: random resized crop (40-100% of the area,
    aspect 3/4-4/3), left-right flip (a mirrored shoe is still a shoe), rotation up to 10°,
    mild brightness/contrast (the grey part of colour jitter) and Gaussian noise σ = 0.05.
    No cut-out: the crop already hides parts of the garment."""
    return Augment(rotate=10.0, cutout=0, noise=0.05, brightness=0.1, contrast=0.3, crop_area=(0.4, 1.0),
                   flip=0.5)
