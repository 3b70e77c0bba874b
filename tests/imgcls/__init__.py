"""Tests of `imgcls/`: a module's tests are in `test_<module>.py` (or where `tests/test_layering.py` says); the
same-work suite (`test_same_work.py`) checks every pipeline's rendering of each workload's augmentation."""
