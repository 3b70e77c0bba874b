"""Tests of `bench/cli/`: a module's tests are in `test_<module>.py`."""
