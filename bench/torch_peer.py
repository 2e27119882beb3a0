"""PyTorch (eager, CPU) peer for charrnn's benchmarks: the workloads of bench/keras_peer.py.

  train_lstm2x128_T50_B50, train_gru2x128_T50_B50, train_lstm2x512_T50_B50
      chars/s = B*T*steps/seconds of a full update: one-hot input (B=50, T=50, V) through `nn.LSTM` or
      `nn.GRU` (2 stacked layers, zero initial state, as Keras's stateless model), a `nn.Linear` head,
      `F.cross_entropy` on its logits (softmax and cross-entropy in one), backward, `torch.optim.Adam`
      at 2e-3. The batches are those of keras_peer.py (B contiguous streams read T at a time).
  gen_lstm2x512_b1, gen_lstm2x128_b1, gen_lstm2x512_b64, gen_lstm2x128_b64
      A stateful model: one forward call per character for each of `batch` independent streams (states
      (layers, batch, units), carried from call to call), softmax, and `torch.multinomial` drawing each
      stream's next character from its own distribution, under `torch.inference_mode()`. chars/s is the
      aggregate, batch * calls / seconds.

Each workload runs twice, each time in its own process (so its peak RSS is its own): with oneDNN
(`torch.backends.mkldnn.enabled`, which decides whether `nn.LSTM`/`nn.GRU` use oneDNN's RNN kernels on
the CPU) on and off; the faster is reported, as a careful user would pick it, with which one won and
both figures. `--seconds` is per run, so a workload takes twice that. Both runs use
`torch.set_num_threads(2)`: the cores of the benchmark machine (`--threads` changes it).

Prints one JSON object: `<workload>_chars_per_s`, `<workload>_peak_rss_mb`, `<workload>_onednn` ("on" or
"off", the faster), `<workload>_chars_per_s_onednn_on` and `..._off`, `torch_version`, `torch_threads`.

    python bench/torch_peer.py [--corpus FILE] [--seconds 10] [--only NAME[,NAME]] [--threads 2]
"""

import argparse
import json
import time

import common

WORKLOADS = common.WORKLOADS
THREADS = 2


def build(cell, hidden, vocab):
    import torch
    from torch import nn

    class CharRNN(nn.Module):
        def __init__(self):
            super().__init__()
            rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
            self.rnn = rnn(vocab, hidden, num_layers=common.LAYERS, batch_first=True)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, x, state=None):
            y, state = self.rnn(x, state)
            return self.head(y), state  # logits at every time step

    torch.manual_seed(0)
    return CharRNN()


def run_train(cell, hidden, batch, data, vocab, seconds):
    import torch
    import torch.nn.functional as F

    model = build(cell, hidden, vocab).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=common.LR)
    eye = torch.eye(vocab)
    batches = [(eye[torch.from_numpy(x).long()], torch.from_numpy(y).long()) for x, y in common.train_batches(data)]

    def update(x, y):
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    for x, y in batches[:3]:  # warm-up
        update(x, y)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        update(*batches[steps % len(batches)])
        steps += 1
    return batch * common.T * steps / (time.perf_counter() - start)


def run_gen(cell, hidden, batch, data, vocab, seconds):
    import torch

    model = build(cell, hidden, vocab).eval()
    torch.manual_seed(1)
    with torch.inference_mode():
        x = torch.zeros(batch, 1, vocab)

        def generate(n, chars, state):
            for _ in range(n):
                x.zero_()
                x.scatter_(2, chars.view(batch, 1, 1), 1.0)  # one-hot, each stream its own character
                logits, state = model(x, state)
                probs = torch.softmax(logits[:, 0], dim=-1)
                chars = torch.multinomial(probs, 1).view(batch)  # each stream's next character
                chars.tolist()  # the characters in the caller's hands, as a program would use them
            return chars, state

        chars, state = generate(20, torch.from_numpy(data[:batch]).long(), None)  # warm-up
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            chars, state = generate(100, chars, state)
            count += 100
        return batch * count / (time.perf_counter() - start)


def worker(name, corpus, seconds, onednn, threads):
    """Run one workload in this process with oneDNN on or off; return its figures."""
    import torch

    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = onednn
    assert torch._C._get_mkldnn_enabled() == onednn
    kind, cell, hidden, batch = WORKLOADS[name]
    data, chars = common.encode(corpus)
    rate = (run_train if kind == "train" else run_gen)(cell, hidden, batch, data, len(chars), seconds)
    return {"chars_per_s": round(rate, 1), "peak_rss_mb": common.peak_rss_mb()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=common.DEFAULT_CORPUS)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per run (two runs per workload)")
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch.set_num_threads (default 2)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one workload here
    parser.add_argument("--onednn", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.corpus, args.seconds, args.onednn == "on", args.threads)))
        return
    names = args.only.split(",") if args.only else list(WORKLOADS)
    common.check_names(names, WORKLOADS, "torch_peer")

    from importlib.metadata import version

    result = {"torch_version": version("torch"), "torch_threads": args.threads}
    for name in names:
        runs = {}
        for onednn in ["on", "off"]:
            worker_args = ["--worker", name, "--onednn", onednn, "--corpus", args.corpus]
            worker_args += ["--seconds", str(args.seconds), "--threads", str(args.threads)]
            runs[onednn] = common.run_worker(__file__, worker_args)
            result[f"{name}_chars_per_s_onednn_{onednn}"] = runs[onednn]["chars_per_s"]
        best = max(runs, key=lambda k: runs[k]["chars_per_s"])
        result[f"{name}_chars_per_s"] = runs[best]["chars_per_s"]
        result[f"{name}_peak_rss_mb"] = runs[best]["peak_rss_mb"]
        result[f"{name}_onednn"] = best
    print(json.dumps(result))


if __name__ == "__main__":
    main()
