"""Small trained models for the Keras import tests: trained by charrnn in about a second (a Keras model
trained that fast would not know its text), and written as Keras files with charrnn.keras.save."""

import os
from pathlib import Path

import numpy as np

import charrnn

CORPUS = [
    os.environ.get("CHARRNN_CORPUS", ""),
    str(Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tinyshakespeare.txt"),
    "/work/shared/data/tinyshakespeare.txt",
]
FALLBACK = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
    "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n\n"
    "All:\nWe know't, we know't.\n\nFirst Citizen:\nLet us kill him, and we'll have corn at our own price.\n"
    "Is't a verdict?\n\nAll:\nNo more talking on't; let it be done: away, away!\n\n"
)


def corpus_text(n: int = 20000) -> str:
    """The first `n` characters of tinyshakespeare (a repeated stand-in when it is absent)."""
    for p in CORPUS:
        if p and Path(p).is_file():
            return Path(p).read_text(encoding="utf-8")[:n]
    return (FALLBACK * (n // len(FALLBACK) + 1))[:n]


def train(corpus_path, **options):
    """A one-layer model that knows its text (loss far below ln V) after a second of training."""
    settings = dict(layers=1, hidden=48, seq_length=50, batch_size=32, learning_rate=0.01, max_steps=400, seed=1)
    settings.update(options)
    model, _ = charrnn.train(str(corpus_path), **settings)
    return model


def reorder(model, vocab: str):
    """The same model over characters with its indices in the order of `vocab` (a permutation of its
    vocabulary): what a Keras tutorial's model is when its vocabulary came from list(set(text))."""
    old = model.vocab
    assert model.config["input"] != "scalar", "a scalar input (index / V) cannot be reordered"
    perm = np.array([old.index(c) for c in vocab])  # new index j holds old index perm[j]
    config = dict(model.config)
    out = charrnn.Model.create(config, vocab)
    for full in model.tensors():
        layer, _, name = full.partition(".")
        w = model.get_weights(layer, name)
        if (layer, name) == ("embedding", "embeddings") or (
            (layer, name) == ("rnn0", "kernel") and config["input"] == "onehot"
        ):
            w = w[perm]
        elif layer == "dense":
            w = w[..., perm]
        out.set_weights(layer, name, w)
    return out
