"""Fixtures of the reliability tests (issue 8): a small corpus and a tiny trained checkpoint.
Helpers live in reliability_util.py (a unique name, so no other test folder's module shadows it)."""
import os

import pytest

from reliability_util import CLI, SHAKESPEARE, TINY, run


@pytest.fixture(scope="session", autouse=True)
def _binaries():
    if not os.access(CLI, os.X_OK):
        pytest.skip(f"{CLI} not built (make build, or set CHARRNN_CLI)")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The first 20k characters of tinyshakespeare (or a stand-in when the data is absent)."""
    path = tmp_path_factory.mktemp("data") / "small.txt"
    if os.path.exists(SHAKESPEARE):
        with open(SHAKESPEARE, encoding="utf-8") as f:
            text = f.read(20000)
    else:
        text = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n" * 300)[:20000]
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def trained(corpus, tmp_path_factory):
    """A checkpoint folder after 20 steps (checkpoints at 10 and 20): its latest.safetensors path."""
    out = tmp_path_factory.mktemp("trained") / "ck"
    result = run("train", corpus, *TINY, "--max-steps", "20", "--eval-every", "10", "--out", str(out), "--json")
    assert result.returncode == 0, result.err
    return str(out / "latest.safetensors")
