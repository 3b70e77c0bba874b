"""Scanning a class-folder tree (`<split>/<class>/<image>`) into a checked file list.

Policy for odd files, decided once here so every pipeline reads the *same* file list (a comparison must not compare
different work): JPEG and PNG are decoded by both pipelines, grayscale included (turned into 3 channels). Files that
one of the decoders cannot read are skipped and counted by reason, and the counts go in the run record:
  - `not_an_image`: not a JPEG/PNG/BMP by its header (a README, a `.txt`, ...); hidden files (`.DS_Store`) are
    ignored without being counted;
  - `truncated`: a JPEG without an end-of-image marker after its scan data, or a PNG without `IEND` (PIL raises
    on these, TF may not);
  - `cmyk`: CMYK JPEGs: PIL and TF convert them to RGB differently (Adobe inverted CMYK), so the two pipelines
    would not see the same pixels;
  - `unsupported_bmp`: 1-bit or palette BMPs, which TF's BMP decoder rejects;
  - `undecodable_name`: a file or class-folder name that is not valid UTF-8 (TF's string tensors, JSON records and
    ImageDataGenerator's file list all need text); a skipped class folder counts once, in both splits;
  - `not_a_regular_file`: an entry that is neither a file nor a folder (a FIFO, a socket, a broken symlink or a
    symlink loop), never opened (opening a FIFO would block the scan).
Skipping rather than failing lets a real-world folder with a few bad files still be benchmarked, and the record says
how many were left out. Structural mistakes (missing folder, no class folders, an empty class) are errors.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from imgcls.errors import FolderLayoutError


@dataclass(frozen=True)
class FolderScan:
    paths: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    skipped: dict[str, int] = field(default_factory=dict)


_DECODABLE_FORMATS = {"JPEG", "PNG", "BMP"}
_TAIL_BYTES = 4096
_EOI = b"\xff\xd9"
_STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD9)}  # TEM, RSTn, SOI: no length field


def _first_scan_offset(handle: BinaryIO) -> int | None:
    """File offset of the image's first start-of-scan (SOS) marker, walking the header segments by their lengths.

    Walking (not searching) matters: an APP1/COM segment may hold a whole embedded JPEG (an EXIF thumbnail),
    end-of-image marker included, which a byte search would take for the image's own.
    """
    handle.seek(2)  # after SOI
    while True:
        marker = handle.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        while marker[1] == 0xFF:  # fill bytes before a marker
            next_byte = handle.read(1)
            if not next_byte:
                return None
            marker = b"\xff" + next_byte
        if marker[1] == 0xDA:
            return handle.tell() - 2
        if marker[1] in _STANDALONE_MARKERS:
            continue
        length = handle.read(2)
        if len(length) < 2:
            return None
        handle.seek(int.from_bytes(length, "big") - 2, 1)


def _jpeg_is_complete(handle: BinaryIO, size: int) -> bool:
    """Whether the JPEG has an end-of-image marker after its first scan.

    Entropy-coded data never holds FF D9 (a data FF is always followed by 00 or a restart marker), so the first
    FF D9 after the first scan ends the image. The common case reads only the header and the last 4 KB; a file
    whose image is followed by a long trailer (a motion photo's appended video) is searched forward in chunks.
    """
    scan = _first_scan_offset(handle)
    if scan is None:
        return False
    tail_start = max(scan, size - _TAIL_BYTES)
    handle.seek(tail_start)
    if _EOI in handle.read():
        return True
    handle.seek(scan)
    carry = b""
    while chunk := handle.read(1 << 20):
        if _EOI in carry + chunk:
            return True
        carry = chunk[-1:]
    return False


def check_image_file(path: Path) -> str | None:
    """Returns why `path` must be skipped (a reason key), or None when both pipelines can decode it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:  # reads the header only
            fmt, mode = image.format, image.mode
    except (UnidentifiedImageError, OSError, ValueError):
        return "not_an_image"
    if fmt not in _DECODABLE_FORMATS:
        return "not_an_image"
    if fmt == "JPEG" and mode == "CMYK":
        return "cmyk"
    if fmt == "BMP" and mode not in ("RGB", "RGBA", "L"):
        return "unsupported_bmp"  # e.g. 1-bit or palette BMPs, which TF's BMP decoder rejects
    with open(path, "rb") as handle:
        head = handle.read(6)
        handle.seek(0, 2)
        size = handle.tell()
        if fmt == "JPEG":
            return None if _jpeg_is_complete(handle, size) else "truncated"
        # Some writers append bytes after the end marker; look back far enough to find it.
        handle.seek(max(0, size - _TAIL_BYTES))
        tail = handle.read()
    if fmt == "PNG" and b"IEND" not in tail:
        return "truncated"
    if fmt == "BMP" and size < int.from_bytes(head[2:6], "little"):
        return "truncated"  # shorter than the size its own header declares
    return None


def scan_class_folders(split_dir: Path, class_names: tuple[str, ...] | None = None) -> FolderScan:
    """Lists `split_dir/<class>/*` images with integer labels, classes in sorted order (like flow_from_directory).

    Paths come class-interleaved (round robin), so a prefix of the list is class-balanced.

    Args:
        split_dir: e.g. `.../imagenette2-160/train`.
        class_names: Expected classes (the train split's, when scanning val); None to discover them.

    Raises:
        FolderLayoutError: missing folder, no class folders, an empty class folder, or classes that differ
            from `class_names`.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FolderLayoutError(
            f"{split_dir} does not exist; expected a tree DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg"
        )
    skipped: dict[str, int] = {}
    folders = [p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    named = [p for p in folders if _utf8(p.name)]
    _count(skipped, "undecodable_name", len(folders) - len(named))
    found = tuple(sorted(p.name for p in named))
    if not found:
        raise FolderLayoutError(f"{split_dir} has no class folders; expected {split_dir}/<class>/<image files>")
    if class_names is not None and found != class_names:
        missing = sorted(set(class_names) - set(found))
        extra = sorted(set(found) - set(class_names))
        raise FolderLayoutError(f"{split_dir} classes differ from train: missing {missing}, extra {extra}")
    per_class: list[list[str]] = []
    for name in found:
        entries = [p for p in (split_dir / name).iterdir() if not p.name.startswith(".")]
        files = sorted(p for p in entries if p.is_file())
        nested = sum(1 for p in entries if p.is_dir())  # a class is one flat folder, as in ImageDataGenerator
        _count(skipped, "nested folder", nested)
        _count(skipped, "not_a_regular_file", len(entries) - len(files) - nested)
        good = []
        for path in files:
            reason = check_image_file(path) if _utf8(path.name) else "undecodable_name"
            if reason is None:
                good.append(str(path))
            else:
                _count(skipped, reason, 1)
        if not good:
            raise FolderLayoutError(f"class folder {split_dir / name} has no readable images")
        per_class.append(good)
    paths: list[str] = []
    labels: list[int] = []
    for row in itertools.zip_longest(*per_class):
        for label, path in enumerate(row):
            if path is not None:
                paths.append(path)
                labels.append(label)
    return FolderScan(tuple(paths), np.asarray(labels, np.int32), found, skipped)


def _utf8(name: str) -> bool:
    """Whether a file name read from disk is valid UTF-8 (Python keeps other bytes as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _count(skipped: dict[str, int], reason: str, number: int) -> None:
    if number:
        skipped[reason] = skipped.get(reason, 0) + number


def uniform_image_size(paths: tuple[str, ...] | list[str]) -> tuple[int, int] | None:
    """`(height, width)` shared by every image file, from their headers (no decoding), or None if they differ.

    When a folder's images are all one size (a prepared copy such as imagenette2-224), a pipeline can leave the
    resize to the model and ship decoded images as they are.
    """
    from PIL import Image

    sizes = set()
    for path in paths:
        with Image.open(path) as image:
            sizes.add(image.size)
        if len(sizes) > 1:
            return None
    if not sizes:
        return None
    width, height = sizes.pop()
    return height, width
