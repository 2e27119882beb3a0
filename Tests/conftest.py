"""Fixtures shared by the CLI, REPL and reliability tests."""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAKESPEARE = os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The first 20k characters of tinyshakespeare (or a stand-in when the data is absent)."""
    path = tmp_path_factory.mktemp("data") / "small.txt"
    if os.path.exists(SHAKESPEARE):
        with open(SHAKESPEARE, encoding="utf-8") as f:
            text = f.read(20000)
    else:
        text = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n" * 300)[
            :20000
        ]
    path.write_text(text, encoding="utf-8")
    return str(path)
