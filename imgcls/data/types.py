"""The data types every pipeline reads: a split (arrays or file paths) and a loaded data set with its provenance."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class Records:
    """Record shards holding a split's encoded images and labels in order (what `bench prepare` writes).

    `counts[i]` records are read from `files[i]`; a limited split keeps the shards its first examples fill and
    reads only the first `counts[-1]` records of the last one, so `take(n)` means the first n examples here too.
    """

    format: str  # a name in `imgcls.data.shards.RECORD_FORMATS` ("tfrecord", "arrayrecord")
    files: tuple[str, ...]
    counts: tuple[int, ...]

    def take(self, n: int) -> Records:
        files, counts, left = [], [], n
        for path, count in zip(self.files, self.counts, strict=True):
            if left <= 0:
                break
            files.append(path)
            counts.append(min(count, left))
            left -= count
        return Records(self.format, tuple(files), tuple(counts))


@dataclass(frozen=True)
class Split:
    """One split: integer labels plus one of uint8 images `[n, H, W, C]`, image file paths or record shards."""

    labels: np.ndarray
    images: np.ndarray | None = None
    paths: tuple[str, ...] | None = None
    records: Records | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, n: int) -> Split:
        """The first `n` examples (sources are already shuffled or class-interleaved)."""
        return Split(
            labels=self.labels[:n],
            images=None if self.images is None else self.images[:n],
            paths=None if self.paths is None else self.paths[:n],
            records=None if self.records is None else self.records.take(n),
        )


@dataclass(frozen=True)
class DataSet:
    """A loaded data set and where it came from."""

    name: str
    kind: str  # "real" | "generated"
    source: str  # names the exact copy, e.g. "imagenette2-224 subset 5000/2500"
    class_names: tuple[str, ...]
    train: Split
    test: Split
    skipped_files: dict[str, int] = field(default_factory=dict)  # reason -> count (file inputs)
    location: str | None = None  # file or folder it was read from

    @property
    def input_kind(self) -> str:
        if self.train.records is not None:
            return "records"
        return "files" if self.train.paths is not None else "arrays"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def limit(self, train: int | None, test: int | None) -> DataSet:
        """A smaller view for quick runs; the source says so, so a subset is never passed off as the set."""
        if train is None and test is None:
            return self
        new_train = self.train.take(train) if train else self.train
        new_test = self.test.take(test) if test else self.test
        note = f" [first {len(new_train)}/{len(new_test)}]"
        return replace(self, train=new_train, test=new_test, source=self.source + note)
