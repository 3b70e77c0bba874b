"""Tests of `bench/run/`: a module's tests are in `test_<module>.py`."""
