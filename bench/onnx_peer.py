"""ONNX Runtime peer for charrnn's generation benchmarks: what a C programmer would otherwise embed.

  gen_lstm2x512_b1, gen_lstm2x128_b1, gen_lstm2x512_b64, gen_lstm2x128_b64
      The model of bench/torch_peer.py (2 stacked `nn.LSTM` layers over one-hot input, a `nn.Linear`
      head), its single step exported with `torch.onnx.export` (the TorchScript exporter, which writes
      ONNX `LSTM` operators): inputs `x` (batch,) int64 character indices (one-hot inside the graph), `h`
      and `c` (layers, batch, units); outputs `probs` (batch, V), after a softmax, and the new `h` and `c`.
      Shapes are fixed per workload. One `run_with_iobinding` per character on the CPUExecutionProvider
      (`intra_op_num_threads=2`, all graph optimisations), its inputs and outputs bound once to buffers
      (as a C program would set up its OrtValues; ~20-40% faster here than `InferenceSession.run` with
      fresh arrays), the new states fed back, each stream's next character drawn in numpy from its own
      distribution. chars/s is the aggregate, batch * calls / seconds.

The parent process exports the models (it imports torch); each workload then runs in its own process
that imports only onnxruntime and numpy, so its peak RSS is ONNX Runtime's own.

Prints one JSON object: `<workload>_chars_per_s`, `<workload>_peak_rss_mb`, `onnxruntime_version`,
`onnx_version`, `ort_threads`.

    python bench/onnx_peer.py [--corpus FILE] [--seconds 20] [--only NAME[,NAME]] [--threads 2]
"""

import argparse
import json
import os
import tempfile
import time

import common

WORKLOADS = {k: v for k, v in common.WORKLOADS.items() if v[0] == "gen"}
THREADS = 2


def export(name, vocab, path):
    """Write workload `name`'s single step to `path` as ONNX."""
    import warnings

    import torch
    import torch.nn.functional as F
    from torch_peer import build

    _, cell, hidden, batch = WORKLOADS[name]
    model = build(cell, hidden, vocab).eval()

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.register_buffer("eye", torch.eye(vocab))

        def forward(self, x, h, c):
            logits, (h, c) = self.model(self.eye[x].unsqueeze(1), (h, c))
            return F.softmax(logits[:, 0], dim=-1), h, c

    state = torch.zeros(common.LAYERS, batch, hidden)
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated in favour of dynamo's
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Step(),
            (torch.zeros(batch, dtype=torch.long), state, state),
            path,
            dynamo=False,
            input_names=["x", "h", "c"],
            output_names=["probs", "h_out", "c_out"],
        )
    check(Step(), path, batch, hidden, vocab)


def check(step, path, batch, hidden, vocab):
    """The exported step agrees with PyTorch's on random states (to 1e-4)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    g = torch.Generator().manual_seed(2)
    x = torch.randint(vocab, (batch,), generator=g)
    h, c = (torch.randn(common.LAYERS, batch, hidden, generator=g) for _ in range(2))
    with torch.inference_mode():
        expected = [t.numpy() for t in step(x, h, c)]
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x.numpy(), "h": h.numpy(), "c": c.numpy()})
    worst = max(float(np.abs(a - b).max()) for a, b in zip(expected, got))
    if not worst < 1e-4:
        raise SystemExit(f"onnx_peer: the exported step differs from PyTorch's by {worst}")


def worker(name, model_path, corpus, seconds, threads):
    import numpy as np
    import onnxruntime as ort

    _, _, hidden, batch = WORKLOADS[name]
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    data, chars = common.encode(corpus)
    rng = np.random.default_rng(0)
    # Buffers bound once, as a C program would set up its OrtValues: the input characters, the
    # probabilities, and two sets of states that take turns being input and output.
    x = data[:batch].astype(np.int64)
    probs = np.zeros((batch, len(chars)), dtype=np.float32)
    h = [np.zeros((common.LAYERS, batch, hidden), dtype=np.float32) for _ in range(2)]
    c = [np.zeros((common.LAYERS, batch, hidden), dtype=np.float32) for _ in range(2)]
    value = ort.OrtValue.ortvalue_from_numpy  # on the CPU, shares the array's memory
    x_value, probs_value = value(x), value(probs)
    h_values, c_values = [value(a) for a in h], [value(a) for a in c]
    bindings = []
    for i in (0, 1):
        binding = session.io_binding()
        binding.bind_ortvalue_input("x", x_value)
        binding.bind_ortvalue_input("h", h_values[i])
        binding.bind_ortvalue_input("c", c_values[i])
        binding.bind_ortvalue_output("probs", probs_value)
        binding.bind_ortvalue_output("h_out", h_values[1 - i])
        binding.bind_ortvalue_output("c_out", c_values[1 - i])
        bindings.append(binding)

    def generate(n):
        for i in range(n):  # n is even: the states end where they started
            session.run_with_iobinding(bindings[i % 2])
            x[:] = common.sample_rows(probs, rng)  # each stream's next character
        return x

    generate(20)  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        generate(100)
        count += 100
    rate = batch * count / (time.perf_counter() - start)
    return {f"{name}_chars_per_s": round(rate, 1), f"{name}_peak_rss_mb": common.peak_rss_mb()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=common.DEFAULT_CORPUS)
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per workload")
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--threads", type=int, default=THREADS, help="intra_op_num_threads (default 2)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one workload here
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.corpus, args.seconds, args.threads)))
        return
    names = args.only.split(",") if args.only else list(WORKLOADS)
    common.check_names(names, WORKLOADS, "onnx_peer")

    from importlib.metadata import version

    result = {
        "onnxruntime_version": version("onnxruntime"),
        "onnx_version": version("onnx"),
        "ort_threads": args.threads,
    }
    vocab = len(set(common.read_text(args.corpus)))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path = os.path.join(tmp, f"{name}.onnx")
            export(name, vocab, path)
            worker_args = ["--worker", name, "--model", path, "--corpus", args.corpus]
            worker_args += ["--seconds", str(args.seconds), "--threads", str(args.threads)]
            result.update(common.run_worker(__file__, worker_args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
