"""Shared fixtures of the charrnn Python tests. Keras runs on JAX (set before anything imports it)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(os.environ.get("CHARRNN_ROOT") or Path(__file__).resolve().parents[3])
CORPUS_CANDIDATES = [
    os.environ.get("CHARRNN_CORPUS", ""),
    str(ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"),
    "/work/shared/data/tinyshakespeare.txt",
]


def _corpus_path():
    for p in CORPUS_CANDIDATES:
        if p and Path(p).is_file():
            return Path(p)
    return None


FALLBACK_TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
    "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n\n"
    "All:\nWe know't, we know't.\n\nFirst Citizen:\nLet us kill him, and we'll have corn at our own price.\n"
    "Is't a verdict?\n\nAll:\nNo more talking on't; let it be done: away, away!\n\n"
)


@pytest.fixture(scope="session")
def corpus_text():
    """A short slice of tinyshakespeare (the first 3000 characters)."""
    p = _corpus_path()
    text = p.read_text(encoding="utf-8")[:3000] if p else FALLBACK_TEXT * 4
    return text


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory, corpus_text):
    p = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    p.write_text(corpus_text, encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def vocab(corpus_text):
    return "".join(sorted(set(corpus_text)))


@pytest.fixture(scope="session")
def sample_text(corpus_text):
    """At least 100 characters to compare on."""
    return corpus_text[1000:1240]


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("keras_models")


def pytest_configure(config):
    # Keras 3 on JAX with numpy 2 warns on every array conversion; it is noise for these tests.
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    )
