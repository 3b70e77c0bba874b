"""Tests of `bench/report/`: a module's tests are in `test_<module>.py`."""
