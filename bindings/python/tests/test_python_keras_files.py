"""Keras files wherever a model is taken (issue 19, point 1), from Python and through the C library.

`charrnn.Model.load("x.keras", vocab_from=...)` imports; without the characters it says how to give
them; the C library (`charrnn_model_load`, what Model.load calls) recognises HDF5 (also after a user
block) and zip archives by their first bytes and names the command that converts the file. Export can
write the tutorials' fixed-window shape, which Keras runs and charrnn's window generation matches.
"""

import h5py
import numpy as np
import pytest

import charrnn
import charrnn.keras as ck
from charrnn import _charrnn
from charrnn_keras_models import corpus_text, train
from charrnn_testutil import indices, onehot


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(model, corpus path, .keras path)."""
    folder = tmp_path_factory.mktemp("files")
    corpus = folder / "corpus.txt"
    corpus.write_text(corpus_text(12000), encoding="utf-8")
    model = train(corpus, max_steps=300)
    path = folder / "my model.keras"  # a space: the suggested command must quote it
    ck.save(model, path)
    yield model, corpus, path
    model.close()


def test_model_load_imports_a_keras_file(files):
    model, corpus, path = files
    imported = charrnn.Model.load(path, vocab_from=corpus)
    assert imported.vocab == model.vocab
    np.testing.assert_allclose(imported.probabilities("First Citizen"), model.probabilities("First Citizen"), atol=1e-6)
    imported.close()
    with pytest.raises(charrnn.InvalidArgumentError, match="apply to Keras files"):
        charrnn.Model.load(corpus, vocab_from=corpus)


def test_model_load_without_characters_says_how_to_give_them(files):
    _, _, path = files
    with pytest.raises(charrnn.FormatError, match=r"Keras model \(a \.keras archive\).*vocab_from="):
        charrnn.Model.load(path)


def test_the_c_library_names_the_file_and_the_command(files, tmp_path):
    _, _, path = files
    with pytest.raises(charrnn.FormatError) as info:
        _charrnn.Model.load(str(path))  # charrnn_model_load itself
    message = str(info.value)
    assert "is a Keras model (a zip archive, a .keras file), not a charrnn model" in message
    assert (
        f"python -m charrnn.keras import '{path}' --vocab-from TEXT -o '{path.with_suffix('.safetensors')}'" in message
    )
    assert "header length" not in message

    # HDF5, at the start or after a user block (512 bytes here): what libhdf5 itself accepts
    for name, userblock in (("legacy.h5", 0), ("userblock.hdf5", 512)):
        h5 = tmp_path / name
        with h5py.File(h5, "w", **({"userblock_size": userblock} if userblock else {})) as f:
            f.attrs["model_config"] = "{}"
        with pytest.raises(charrnn.FormatError) as info:
            _charrnn.Model.load(str(h5))
        assert "is a Keras model (HDF5, a .h5 file)" in str(info.value)
        assert f"import {h5} --vocab-from TEXT -o {h5.with_suffix('.safetensors')}" in str(info.value)
    # neither: the safetensors reader's own message stays
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 600)
    with pytest.raises(charrnn.FormatError) as info:
        _charrnn.Model.load(str(junk))
    assert "Keras" not in str(info.value)


def test_window_export_is_the_tutorials_shape_and_generates_as_keras(files):
    keras = pytest.importorskip("keras")
    model, corpus, path = files
    maxlen = 20
    windowed = path.with_name("window.keras")
    ck.save(model, windowed, window=maxlen)
    kmodel = keras.saving.load_model(str(windowed))
    assert tuple(kmodel.input_shape) == (None, maxlen, model.vocab_size)
    assert tuple(kmodel.output_shape) == (None, model.vocab_size)  # the next character only
    text = corpus.read_text(encoding="utf-8")[500:560]
    windows = np.stack(
        [onehot(indices(text[i : i + maxlen], model.vocab), model.vocab_size) for i in range(len(text) - maxlen + 1)]
    )
    expected = np.asarray(kmodel.predict(windows, verbose=0), dtype=np.float64)

    imported = ck.load(windowed, vocab_from=corpus)
    assert imported.config["window"] == maxlen  # generation defaults to the window
    got = []
    with imported.session() as s:
        assert s.window == maxlen
        for i, c in enumerate(text):
            s.feed(c)
            if i >= maxlen - 1:
                got.append(s.probabilities())
    assert np.abs(np.array(got, dtype=np.float64) - expected).max() <= 1e-5
    imported.close()
