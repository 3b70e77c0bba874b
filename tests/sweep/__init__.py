"""Tests of `bench/sweep/`: a module's tests are in `test_<module>.py`."""
