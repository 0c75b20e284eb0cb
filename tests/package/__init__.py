"""Tests of the Python layer, one file per module of python/nncore/."""
