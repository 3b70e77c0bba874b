"""Data sources: where examples come from (data directory, Keras cache, tfds, generated)."""

from imgcls.data.sources import DataSet, Split, get_dataset_info, list_data_modes, load_dataset

__all__ = ["DataSet", "Split", "get_dataset_info", "list_data_modes", "load_dataset"]
