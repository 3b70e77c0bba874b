"""`load_dataset`: the `--data` policy, above all `auto` (real data when it is at hand, else labelled generated data).

Offline machines are the normal case here: `tfds.load` retries a download for minutes before failing. So `auto`
only takes what is already on disk (a data directory, the Keras cache, a prepared tfds copy) and a download only
when a quick probe says the host answers; otherwise it falls back to generated data with a one-line warning. A data
directory the user named is a promise, not a hint: when it cannot serve the data set, that is an error naming what
was looked for, never a silent fallback. A forced source that cannot be had raises `DataUnavailable` too.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from imgcls.data.catalogue import get_dataset_info
from imgcls.data.loaders import find_in_dir, get_loader, keras_cache_file, list_data_modes, tfds_prepared
from imgcls.data.locations import DATA_DIR_ENV, default_data_dir
from imgcls.data.shards import MANIFEST
from imgcls.data.types import DataSet
from imgcls.net import host_reachable

__all__ = ["load_dataset", "list_data_modes"]


def load_dataset(name: str, mode: str = "auto", data_dir: Path | str | None = None) -> DataSet:
    """Loads data set `name` from the source `mode` names.

    Args:
        name: A key of `DATASETS`.
        mode: `auto` or a registered loader (`dir`, `folder`, `shards`, `keras`, `tfds`, `generated`).
        data_dir: A data directory; defaults to `$IMGCLS_DATA_DIR`. Either one, when given, must hold the data
            set (`auto` then reads it or fails; it never falls back to generated data). `auto` reads a folder
            holding a shard manifest (`bench prepare`'s output) as `shards`.

    Returns:
        The DataSet, its provenance filled in.

    Raises:
        DataUnavailable: the source cannot be had; the message says what to pass instead.
        ValueError: unknown `name` or `mode`.
    """
    info = get_dataset_info(name)
    named = data_dir is not None
    data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
    if mode != "auto":
        return get_loader(mode)(info, data_dir)
    if data_dir is not None and (data_dir / MANIFEST).is_file():
        return get_loader("shards")(info, data_dir)  # a folder `bench prepare` wrote
    if data_dir is not None:
        find_in_dir(info, data_dir, named_by="data directory" if named else DATA_DIR_ENV)  # raises when missing
        return get_loader("dir")(info, data_dir)

    # auto without a data directory: caches first, then a download only if its host answers, else generated.
    candidates: list[tuple[str, Callable[[], bool]]] = [
        ("keras", lambda: info.keras_name is not None and keras_cache_file(info) is not None),
        ("tfds", lambda: info.tfds_name is not None and tfds_prepared(info)),
        ("keras", lambda: info.keras_name is not None and host_reachable("storage.googleapis.com")),
    ]
    attempts: list[str] = []
    for mode_name, available in candidates:
        if not available():
            continue
        try:
            return get_loader(mode_name)(info, data_dir)
        except Exception as err:  # DataUnavailable and friends: try the next source, remember why
            attempts.append(str(err))
    reason = "; ".join(attempts) if attempts else "no data directory, no Keras/tfds cache, no network"
    warnings.warn(
        f"real {name} not available ({reason}); using GENERATED data: its numbers are not comparable with the "
        f"README's real-data tables. For real data pass --data-dir DIR or set {DATA_DIR_ENV}.",
        stacklevel=2,
    )
    return get_loader("generated")(info, data_dir)
