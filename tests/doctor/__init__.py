"""Tests of `bench/doctor/`: a module's tests are in `test_<module>.py`."""
