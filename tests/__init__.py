"""The test suite; its folders mirror the source tree, and tests of the shared vocabulary (`bench/*.py`) sit here."""
