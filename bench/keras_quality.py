"""How good a model Keras (JAX backend) trains in a fixed wall-clock budget, with char-rnn's defaults.

2-layer LSTM 128, one-hot input, seq length 50, batch 50, Adam lr 2e-3, every step predicting the next
character. Batches are contiguous like char-rnn's: the first 90% of the corpus is split into B streams
and read in consecutive T-length chunks, cycling through epochs; the model is stateless. Training runs
for `--max-time` seconds of wall-clock time, model building and XLA compilation included; then the
loss in nats/char is measured the same way over the last 10% of the text (not timed), split as
`charrnn train` splits it (bench/common.py); the chunks that do not fill a batch are left out.

Prints JSON: {"val_loss": ..., "steps": ..., "seconds": ...}

    python bench/keras_quality.py [--corpus FILE] [--max-time 120]
"""

import argparse
import json
import os
import time

os.environ["KERAS_BACKEND"] = "jax"

import common  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CORPUS = os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt")
T, B, HIDDEN, LAYERS, LR = 50, 50, 128, 2, 2e-3


def chunks(data, vocab):
    """(one-hot x, index y) batches: B contiguous streams read in consecutive T-length chunks."""
    per_stream = (len(data) - 1) // B // T * T
    xs = data[: B * per_stream].reshape(B, per_stream)
    ys = data[1 : B * per_stream + 1].reshape(B, per_stream)
    eye = np.eye(vocab, dtype=np.float32)
    return [(eye[xs[:, i : i + T]], ys[:, i : i + T]) for i in range(0, per_stream, T)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--max-time", type=float, default=120.0, help="training wall-clock seconds")
    args = parser.parse_args()

    with open(args.corpus, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = np.array([index[c] for c in text], dtype=np.int32)
    split = common.split_point(len(data))
    train, val = chunks(data[:split], len(chars)), chunks(data[split:], len(chars))

    start = time.perf_counter()
    x = inputs = keras.Input(shape=(None, len(chars)))
    for _ in range(LAYERS):
        x = keras.layers.LSTM(HIDDEN, return_sequences=True)(x)
    model = keras.Model(inputs, keras.layers.Dense(len(chars), activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="sparse_categorical_crossentropy")
    steps = 0
    while time.perf_counter() - start < args.max_time:
        model.train_on_batch(*train[steps % len(train)])
        steps += 1
    seconds = time.perf_counter() - start

    val_loss = float(np.mean([model.test_on_batch(xv, yv) for xv, yv in val]))  # equal-size batches
    print(json.dumps({"val_loss": round(val_loss, 4), "steps": steps, "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
