"""Learnable generated data sets in the real formats (uint8 arrays; JPEG class folders).

Tests and offline runs need data that exercises the same decode and augmentation paths as the real sets and that a
model can actually learn (so an accuracy check means something). Every data set made here is labelled
`generated` downstream; nothing here pretends to be MNIST, CIFAR-10 or Imagenette.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def _class_prototypes(rng: np.random.Generator, num_classes: int, shape: tuple[int, int, int], grid: int) -> np.ndarray:
    """One smooth random pattern per class: coarse random grid, upsampled (blocky blobs, not noise)."""
    height, width, channels = shape
    coarse = rng.random((num_classes, grid, grid, channels))
    rows = np.linspace(0, grid - 1, height).round().astype(int)
    cols = np.linspace(0, grid - 1, width).round().astype(int)
    return coarse[:, rows][:, :, cols]  # [classes, H, W, C] in [0, 1]


def make_arrays(
    num_train: int,
    num_test: int,
    shape: tuple[int, int, int],
    num_classes: int = 10,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Makes a learnable uint8 image classification set: class pattern, random shift, brightness and noise.

    Args:
        num_train: Training examples.
        num_test: Test examples (same distribution, different draws).
        shape: (height, width, channels) of each image, e.g. (28, 28, 1).
        num_classes: Number of classes; labels are balanced in expectation.
        seed: Everything is a pure function of the seed.

    Returns:
        x_train, y_train, x_test, y_test with uint8 images `[n, H, W, C]` and uint8 labels `[n]`.
    """
    rng = np.random.default_rng(seed)
    prototypes = _class_prototypes(rng, num_classes, shape, grid=max(4, shape[0] // 5))
    shifts = [(dr, dc) for dr in range(-2, 3) for dc in range(-2, 3)]
    # [classes, shifts, H, W, C]: each example is its class pattern at one of 25 small offsets.
    shifted = np.stack([np.roll(prototypes, s, axis=(1, 2)) for s in shifts], axis=1)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, num_classes, n).astype(np.uint8)
        images = np.empty((n, *shape), np.uint8)
        for start in range(0, n, 4096):  # chunks keep the float temporaries small
            lab = labels[start : start + 4096]
            base = shifted[lab, rng.integers(0, len(shifts), len(lab))]
            gain = rng.uniform(0.6, 1.0, (len(lab), 1, 1, 1))
            # Heavy noise keeps it from being trivially separable: a short fit lands well above chance
            # but below 100%, so a pipeline bug (labels misaligned, no rescale) shows as lost accuracy.
            noise = rng.normal(0.0, 0.6, base.shape)
            images[start : start + 4096] = np.clip((base * gain + noise) * 255.0, 0, 255).astype(np.uint8)
        return images, labels

    x_train, y_train = draw(num_train)
    x_test, y_test = draw(num_test)
    return x_train, y_train, x_test, y_test


def _natural_image(rng: np.random.Generator, prototype: np.ndarray, height: int, width: int) -> np.ndarray:
    """A photo-like RGB image: class-coloured smooth background, soft shapes and mild texture.

    Smooth content compresses like a photograph (15-30 KB at 160 px), unlike white noise (~100 KB).
    """
    rows = np.linspace(0, prototype.shape[0] - 1, height)
    cols = np.linspace(0, prototype.shape[1] - 1, width)
    # Bilinear upsampling of the coarse class pattern gives smooth gradients.
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    r1 = np.minimum(r0 + 1, prototype.shape[0] - 1)
    c1 = np.minimum(c0 + 1, prototype.shape[1] - 1)
    fr = (rows - r0)[:, None, None]
    fc = (cols - c0)[None, :, None]
    top = prototype[r0][:, c0] * (1 - fc) + prototype[r0][:, c1] * fc
    bottom = prototype[r1][:, c0] * (1 - fc) + prototype[r1][:, c1] * fc
    image = top * (1 - fr) + bottom * fr
    # A few soft random blobs (objects) on top, and fine texture.
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(3):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(0.08, 0.25) * min(height, width)
        blob = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2)))[..., None]
        image = image * (1 - 0.6 * blob) + 0.6 * blob * rng.random(3)
    image += rng.normal(0.0, 0.08, image.shape)
    image *= rng.uniform(0.7, 1.1)
    return np.clip(image * 255.0, 0, 255).astype(np.uint8)


def write_jpeg_tree(
    root: Path,
    images_per_class: dict[str, int],
    class_names: tuple[str, ...],
    shorter_side: int = 160,
    seed: int = 0,
    quality: int = 92,
    max_aspect: float = 1.5,
) -> Path:
    """Writes a learnable class-folder JPEG tree `root/<split>/<class>/*.JPEG` in the Imagenette layout.

    Widths vary (aspect 1.0-1.5) with the shorter side fixed, like `imagenette2-160`. Written into a temporary
    folder and renamed at the end, so an interrupted write never leaves a half tree that looks complete.

    Args:
        root: Destination; returned unchanged if it already holds a complete tree.
        images_per_class: Images per class for each split, e.g. {"train": 30, "val": 10}.
        class_names: Class folder names (e.g. ImageNet wnids).
        shorter_side: Shorter side in pixels.
        seed: Everything is a pure function of the seed.
        quality: JPEG quality.
        max_aspect: Widths are drawn in [1, max_aspect] x the shorter side (1.0: square images, all one size).

    Returns:
        `root`.
    """
    from PIL import Image

    root = Path(root)
    if (root / ".complete").exists():
        return root
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    rng = np.random.default_rng(seed)
    prototypes = rng.random((len(class_names), 5, 5, 3))
    for split, count in images_per_class.items():
        for label, class_name in enumerate(class_names):
            folder = tmp / split / class_name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                width = int(shorter_side * rng.uniform(1.0, max_aspect))
                pixels = _natural_image(rng, prototypes[label], shorter_side, width)
                buffer = io.BytesIO()
                Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
                (folder / f"{class_name}_{split}_{i:05d}.JPEG").write_bytes(buffer.getvalue())
    (tmp / ".complete").write_text("generated by imgcls.data.generated.write_jpeg_tree\n")
    root.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(root)
    except OSError:  # another process finished first; keep theirs
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("wrote generated JPEG tree %s", root)
    return root
