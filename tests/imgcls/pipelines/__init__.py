"""Tests of `imgcls/pipelines/`: `test_base.py` holds the contract every registered pipeline passes; a module's own
tests are in `test_<module>.py` (or where `tests/test_layering.py` says)."""
