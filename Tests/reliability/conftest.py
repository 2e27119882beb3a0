"""Fixtures of the reliability tests (issue 8): a tiny trained checkpoint (the corpus is Tests/conftest.py's).
Helpers live in reliability_util.py (a unique name, so no other test folder's module shadows it)."""

import os

import pytest

from reliability_util import CLI, TINY, run


@pytest.fixture(scope="session", autouse=True)
def _binaries():
    if not os.access(CLI, os.X_OK):
        pytest.skip(f"{CLI} not built (make build, or set CHARRNN_CLI)")


@pytest.fixture(scope="session")
def trained(corpus, tmp_path_factory):
    """A checkpoint folder after 20 steps (checkpoints at 10 and 20): its latest.safetensors path."""
    out = tmp_path_factory.mktemp("trained") / "ck"
    result = run("train", corpus, *TINY, "--max-steps", "20", "--eval-every", "10", "--out", str(out), "--json")
    assert result.returncode == 0, result.err
    return str(out / "latest.safetensors")
