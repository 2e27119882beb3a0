"""Keras 3 (JAX backend) peer for charrnn's benchmarks.

Runs the same workloads as `charrnn bench`, on the same corpus, each in its own subprocess so that
its peak RSS is its own:

  train_lstm2x128_T50_B50, train_gru2x128_T50_B50, train_lstm2x512_T50_B50
      chars/s = B*T*steps/seconds through `model.train_on_batch` (forward, backward, Adam 2e-3):
      one-hot input (B=50, T=50, V), two stacked LSTM/GRU layers, softmax Dense head, sparse
      categorical crossentropy. Timed after warm-up steps, so XLA compilation is not counted.
  gen_lstm2x512_b1, gen_lstm2x128_b1
      chars/s of a stateful batch-1 model fed one character at a time, sampling the next character
      in numpy. The step is one jitted call of the Keras model; the stateful RNN's state variables
      are threaded through a StatelessScope (Keras 3 does not track them as model variables, so
      `predict_on_batch` under JAX would silently drop the state), which is also the fastest path.

Prints one JSON object: `<workload>_chars_per_s`, `<workload>_peak_rss_mb`, `backend`,
`keras_version`, `jax_version`.

    python bench/keras_peer.py [--corpus FILE] [--seconds 20] [--only NAME[,NAME]]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CORPUS = os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt")
WORKLOADS = {  # name: (kind, cell, hidden)
    "train_lstm2x128_T50_B50": ("train", "lstm", 128),
    "train_gru2x128_T50_B50": ("train", "gru", 128),
    "train_lstm2x512_T50_B50": ("train", "lstm", 512),
    "gen_lstm2x512_b1": ("gen", "lstm", 512),
    "gen_lstm2x128_b1": ("gen", "lstm", 128),
}
T, B, LAYERS, LR = 50, 50, 2, 2e-3


def encode(path):
    """The corpus as int32 indices, and the vocabulary size (sorted distinct characters)."""
    import numpy as np

    with open(path, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    return np.array([index[c] for c in text], dtype=np.int32), len(chars)


def build(cell, hidden, vocab, batch_size=None, stateful=False):
    import keras

    rnn = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    x = inputs = keras.Input(batch_size=batch_size, shape=(1 if stateful else None, vocab))
    for _ in range(LAYERS):
        x = rnn(hidden, return_sequences=True, stateful=stateful)(x)
    outputs = keras.layers.Dense(vocab, activation="softmax")(x)  # applied at every time step
    return keras.Model(inputs, outputs)


def train_batches(data, vocab, count=20):
    """`count` contiguous (one-hot x, index y) batches, char-rnn style: B streams, T-length chunks."""
    import numpy as np

    per_stream = (len(data) - 1) // B
    xs = data[: B * per_stream].reshape(B, per_stream)
    ys = data[1 : B * per_stream + 1].reshape(B, per_stream)
    eye = np.eye(vocab, dtype=np.float32)
    return [(eye[xs[:, i * T : (i + 1) * T]], ys[:, i * T : (i + 1) * T]) for i in range(count)]


def run_train(cell, hidden, data, vocab, seconds):
    import keras

    model = build(cell, hidden, vocab)
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="sparse_categorical_crossentropy")
    batches = train_batches(data, vocab)
    for x, y in batches[:3]:  # the first call traces and compiles
        model.train_on_batch(x, y)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x, y = batches[steps % len(batches)]
        model.train_on_batch(x, y)  # returns the loss as a host value, so each step is synchronised
        steps += 1
    return B * T * steps / (time.perf_counter() - start)


def run_gen(cell, hidden, data, vocab, seconds):
    import jax
    import numpy as np
    from keras.src.backend.common.stateless_scope import StatelessScope

    model = build(cell, hidden, vocab, batch_size=1, stateful=True)
    weights = model.variables
    states = [v for layer in model.layers if getattr(layer, "stateful", False) for v in layer.states]

    @jax.jit
    def step(weight_values, state_values, x):
        mapping = list(zip(weights, weight_values)) + list(zip(states, state_values))
        with StatelessScope(state_mapping=mapping) as scope:
            probs = model(x, training=False)
        return probs[0, 0], [scope.get_current_value(v) for v in states]

    weight_values = [v.value for v in weights]
    rng = np.random.default_rng(0)
    x = np.zeros((1, 1, vocab), dtype=np.float32)

    def generate(n, char):
        state_values = [v.value for v in states]
        for _ in range(n):
            x[:] = 0
            x[0, 0, char] = 1
            probs, state_values = step(weight_values, state_values, x)
            p = np.asarray(probs, dtype=np.float64)
            char = min(int(np.searchsorted(np.cumsum(p), rng.random() * p.sum())), vocab - 1)
        return char

    char = generate(20, int(data[0]))  # warm-up, compiles
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        char = generate(100, char)
        count += 100
    return count / (time.perf_counter() - start)


def worker(name, corpus, seconds):
    """Run one workload in this process; return its figures."""
    kind, cell, hidden = WORKLOADS[name]
    data, vocab = encode(corpus)
    rate = (run_train if kind == "train" else run_gen)(cell, hidden, data, vocab, seconds)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {f"{name}_chars_per_s": round(rate, 1), f"{name}_peak_rss_mb": round(peak_mb, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per workload")
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one workload here
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.corpus, args.seconds)))
        return
    names = args.only.split(",") if args.only else list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        sys.exit(f"keras_peer: unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")

    from importlib.metadata import version  # not importing keras here keeps this parent process small

    result = {"backend": os.environ["KERAS_BACKEND"], "keras_version": version("keras"), "jax_version": version("jax")}
    for name in names:
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            name,
            "--corpus",
            args.corpus,
            "--seconds",
            str(args.seconds),
        ]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, text=True).stdout
        result.update(json.loads(out.strip().splitlines()[-1]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
