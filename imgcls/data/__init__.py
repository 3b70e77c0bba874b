"""Data: types (`DataSet`, `Split`), the catalogue of data sets, loaders per source, and the `--data` policy."""

from imgcls.data.catalogue import DATASETS, get_dataset_info
from imgcls.data.loaders import list_data_modes, load_folder_tree
from imgcls.data.sources import load_dataset
from imgcls.data.types import DataSet, Split

__all__ = ["DATASETS", "DataSet", "Split", "get_dataset_info", "list_data_modes", "load_dataset", "load_folder_tree"]
