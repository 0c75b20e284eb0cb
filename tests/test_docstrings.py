"""The examples in the public docstrings run and print what they show."""
import doctest

import pytest

import nncore
import nncore.functional
import nncore.runtime


@pytest.mark.parametrize("module", [nncore, nncore.functional, nncore.runtime])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
