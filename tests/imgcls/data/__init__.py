"""Tests of `imgcls/data/`: a module's tests are in `test_<module>.py` (or where `tests/test_layering.py` says)."""
