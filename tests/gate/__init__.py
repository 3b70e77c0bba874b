"""Tests of `bench/gate/`: a module's tests are in `test_<module>.py`."""
