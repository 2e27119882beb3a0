"""What the benchmark's peers share: the workloads, the corpus and its split, the training batches,
sampling, peak memory, and running one workload in a child process.

Only the standard library at import time: `bench/run.py` imports it too, and each peer imports numpy
(and its framework) only where it needs them.
"""

import json
import os
import resource
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CORPUS = os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt")

# name: (kind, cell, units, batch). Two stacked layers, one-hot input, a softmax head.
WORKLOADS = {
    "train_lstm2x128_T50_B50": ("train", "lstm", 128, 50),
    "train_gru2x128_T50_B50": ("train", "gru", 128, 50),
    "train_lstm2x512_T50_B50": ("train", "lstm", 512, 50),
    "gen_lstm2x512_b1": ("gen", "lstm", 512, 1),
    "gen_lstm2x128_b1": ("gen", "lstm", 128, 1),
    "gen_lstm2x512_b64": ("gen", "lstm", 512, 64),
    "gen_lstm2x128_b64": ("gen", "lstm", 128, 64),
}
T, B, LAYERS, LR = 50, 50, 2, 2e-3  # training: sequence length, batch, layers, Adam's learning rate
VAL_FRACTION = 0.1


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def split_point(n):
    """Where the held-out part starts: the last int(n * 0.1) characters are held out, as `charrnn train`
    counts them (1,003,855 training and 111,539 held-out characters of tinyshakespeare)."""
    return n - int(n * VAL_FRACTION)


def encode(path):
    """The corpus as int32 indices, and its vocabulary (the sorted distinct characters)."""
    import numpy as np

    text = read_text(path)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    return np.array([index[c] for c in text], dtype=np.int32), chars


def train_batches(data, count=20):
    """`count` contiguous (x, y) index batches of shape (B, T), char-rnn style: B streams, each read in
    consecutive T-length chunks; y is x shifted by one character."""
    per_stream = (len(data) - 1) // B
    xs = data[: B * per_stream].reshape(B, per_stream)
    ys = data[1 : B * per_stream + 1].reshape(B, per_stream)
    return [(xs[:, i * T : (i + 1) * T], ys[:, i * T : (i + 1) * T]) for i in range(count)]


def sample_rows(probs, rng):
    """One index per row of `probs` (n, V), each drawn from its own row's distribution (inverse CDF on
    one uniform number per row, as charrnn's sampler does): an array, or a list of one for one row."""
    import numpy as np

    p = np.asarray(probs, dtype=np.float64)
    if p.shape[0] == 1:  # the same draw, without the 2-D overhead: one stream's step is short
        cdf = np.cumsum(p[0])
        return [min(int(np.searchsorted(cdf, rng.random() * cdf[-1])), len(cdf) - 1)]
    cdf = np.cumsum(p, axis=1)
    u = rng.random((p.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf < u).sum(axis=1), p.shape[1] - 1)


def peak_rss_mb():
    """This process's peak resident set in MB: VmHWM, as `charrnn bench` reads it. Not ru_maxrss, which
    a process started by another inherits from it across exec (onnx_peer.py's parent has imported torch)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def run_worker(script, args):
    """Run `script --worker ...` with this Python; return the JSON object on its last stdout line."""
    cmd = [sys.executable, os.path.abspath(script), *args]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def check_names(names, known, who):
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"{who}: unknown workload(s) {', '.join(unknown)}; known: {', '.join(known)}")
