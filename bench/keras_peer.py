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
  gen_lstm2x512_b64, gen_lstm2x128_b64
      The same with a stateful batch-64 model: 64 independent streams advanced one character each per
      call, each sampling its own next character from its own distribution; chars/s is the aggregate,
      64 * calls / seconds.

Prints one JSON object: `<workload>_chars_per_s`, `<workload>_peak_rss_mb`, `backend`,
`keras_version`, `jax_version`.

    python bench/keras_peer.py [--corpus FILE] [--seconds 20] [--only NAME[,NAME]]
"""

import argparse
import json
import os
import time

import common

os.environ["KERAS_BACKEND"] = "jax"

WORKLOADS = common.WORKLOADS
LAYERS, LR = common.LAYERS, common.LR


def build(cell, hidden, vocab, batch_size=None, stateful=False):
    import keras

    rnn = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    x = inputs = keras.Input(batch_size=batch_size, shape=(1 if stateful else None, vocab))
    for _ in range(LAYERS):
        x = rnn(hidden, return_sequences=True, stateful=stateful)(x)
    outputs = keras.layers.Dense(vocab, activation="softmax")(x)  # applied at every time step
    return keras.Model(inputs, outputs)


def run_train(cell, hidden, batch, data, vocab, seconds):
    import keras
    import numpy as np

    model = build(cell, hidden, vocab)
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="sparse_categorical_crossentropy")
    eye = np.eye(vocab, dtype=np.float32)
    batches = [(eye[x], y) for x, y in common.train_batches(data)]  # one-hot (B, T, V), indices (B, T)
    for x, y in batches[:3]:  # the first call traces and compiles
        model.train_on_batch(x, y)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x, y = batches[steps % len(batches)]
        model.train_on_batch(x, y)  # returns the loss as a host value, so each step is synchronised
        steps += 1
    return batch * common.T * steps / (time.perf_counter() - start)


def run_gen(cell, hidden, batch, data, vocab, seconds):
    import jax
    import numpy as np
    from keras.src.backend.common.stateless_scope import StatelessScope

    model = build(cell, hidden, vocab, batch_size=batch, stateful=True)
    weights = model.variables
    states = [v for layer in model.layers if getattr(layer, "stateful", False) for v in layer.states]

    @jax.jit
    def step(weight_values, state_values, x):
        mapping = list(zip(weights, weight_values)) + list(zip(states, state_values))
        with StatelessScope(state_mapping=mapping) as scope:
            probs = model(x, training=False)
        return probs[:, 0], [scope.get_current_value(v) for v in states]

    weight_values = [v.value for v in weights]
    rng = np.random.default_rng(0)
    x = np.zeros((batch, 1, vocab), dtype=np.float32)
    rows = np.arange(batch)

    def generate(n, chars):
        state_values = [v.value for v in states]
        for _ in range(n):
            x[:] = 0
            x[rows, 0, chars] = 1
            probs, state_values = step(weight_values, state_values, x)
            chars = common.sample_rows(probs, rng)  # (batch,): each stream's next character
        return chars

    chars = generate(20, data[:batch].astype(np.int64))  # warm-up, compiles
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        chars = generate(100, chars)
        count += 100
    return batch * count / (time.perf_counter() - start)


def worker(name, corpus, seconds):
    """Run one workload in this process; return its figures."""
    kind, cell, hidden, batch = WORKLOADS[name]
    data, chars = common.encode(corpus)
    rate = (run_train if kind == "train" else run_gen)(cell, hidden, batch, data, len(chars), seconds)
    return {f"{name}_chars_per_s": round(rate, 1), f"{name}_peak_rss_mb": common.peak_rss_mb()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=common.DEFAULT_CORPUS)
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per workload")
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one workload here
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.corpus, args.seconds)))
        return
    names = args.only.split(",") if args.only else list(WORKLOADS)
    common.check_names(names, WORKLOADS, "keras_peer")

    from importlib.metadata import version  # not importing keras here keeps this parent process small

    result = {"backend": os.environ["KERAS_BACKEND"], "keras_version": version("keras"), "jax_version": version("jax")}
    for name in names:
        args_ = ["--worker", name, "--corpus", args.corpus, "--seconds", str(args.seconds)]
        result.update(common.run_worker(__file__, args_))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
