"""Scale out through Keras and back (issue 19, point 7).

A charrnn model exported to .keras trains in Keras 3 (JAX) with keras.distribution.DataParallel over
two devices — JAX's CPU backend presents two with XLA_FLAGS=--xla_force_host_platform_device_count=2,
which must be set before jax is imported, so Keras runs in a child process — and the trained file
imports back into charrnn and agrees with Keras's own predictions to 1e-5.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("keras")
pytest.importorskip("jax")

import charrnn.keras as ck  # noqa: E402
from charrnn_keras_models import corpus_text, train  # noqa: E402
from charrnn_testutil import indices, onehot  # noqa: E402

TOL = 1e-5

CHILD = textwrap.dedent("""
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax
    import keras
    import numpy as np

    source, trained, data = sys.argv[1:4]
    devices = jax.devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    model = keras.saving.load_model(source)
    model.compile(optimizer=keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy")
    d = np.load(data)
    before = float(model.evaluate(d["x"], d["y"], batch_size=8, verbose=0))
    model.fit(d["x"], d["y"], batch_size=8, epochs=3, verbose=0)
    after = float(model.evaluate(d["x"], d["y"], batch_size=8, verbose=0))
    # each batch is split over the devices; the weights are replicated on every one
    shardings = [w.value.sharding for w in model.weights]
    model.save(trained)
    probs = np.asarray(model.predict(d["probe"], verbose=0))
    np.save(trained + ".probs.npy", probs)
    print(json.dumps({"devices": len(devices), "before": before, "after": after,
                      "replicated": all(len(s.device_set) == len(devices) and s.is_fully_replicated
                                        for s in shardings)}))
""")


def test_data_parallel_training_in_keras_round_trips(tmp_path):
    corpus = tmp_path / "corpus.txt"
    text = corpus_text(12000).lower()
    corpus.write_text(text, encoding="utf-8")
    model = train(corpus, max_steps=200, hidden=32)
    vocab, v = model.vocab, model.vocab_size
    exported = tmp_path / "export.keras"
    ck.save(model, exported)

    seq = 40
    idx = indices(text, vocab)
    starts = range(0, 32 * seq, seq)  # 32 sequences: 4 batches of 8, 4 per device
    x = np.stack([onehot(idx[s : s + seq], v) for s in starts])
    y = np.stack([idx[s + 1 : s + seq + 1] for s in starts])
    probes = [text[5000:5200], text[7000:7200]]  # a batch the two devices can split
    np.savez(tmp_path / "data.npz", x=x, y=y, probe=np.stack([onehot(indices(p, vocab), v) for p in probes]))

    trained = tmp_path / "trained.keras"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(exported), str(trained), str(tmp_path / "data.npz")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["devices"] == 2 and report["replicated"]
    assert report["after"] < report["before"]  # Keras trained it

    imported = ck.load(trained, vocab=vocab, check_text=text)
    keras_probs = np.load(str(trained) + ".probs.npy").astype(np.float64)
    diff = max(
        float(np.abs(imported.probabilities(p).astype(np.float64) - e).max()) for p, e in zip(probes, keras_probs)
    )
    print(
        f"DataParallel round trip: loss {report['before']:.4f} -> {report['after']:.4f}, "
        f"max |charrnn - keras| = {diff:.2e}"
    )
    assert diff <= TOL
    # and the weights did change in Keras
    assert np.abs(imported.get_weights("dense", "kernel") - model.get_weights("dense", "kernel")).max() > 1e-4
    imported.close()
    model.close()
