"""The command line: ``python -m nncore info`` and ``demo`` (the demo runs in test_examples)."""
import json

import pytest

import nncore as nc
from nncore.__main__ import main


def test_info_prints_config(capsys):
    assert main(["info"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["isa"] == nc.config()["isa"] and printed["version"] == nc.__version__


def test_unknown_command_fails(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err
