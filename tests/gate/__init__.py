"""Tests of `bench/gate/`: a module's tests are in `test_<module>.py` (or where `tests/test_layering.py` says)."""
