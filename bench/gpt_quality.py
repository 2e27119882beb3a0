"""How good a small character GPT PyTorch trains on the CPU in a fixed wall-clock budget: nanoGPT's
`shakespeare_char` CPU recipe, written again compactly (karpathy/nanoGPT's model.py and train.py).

The recipe (nanoGPT's README, on top of config/train_shakespeare_char.py): block size 64, batch 12,
4 layers, 4 heads, 128-wide embeddings, dropout 0, no biases (train.py's default), AdamW with learning
rate 1e-3, betas (0.9, 0.99), weight decay 0.1 on the matrices and embeddings only, gradients clipped to
a global norm of 1, 100 warm-up iterations then a cosine decay to 1e-4 at `lr_decay_iters`, random
batches from the training part, float32, no torch.compile, `torch.set_num_threads(2)`.
The model: token and position embeddings; pre-LayerNorm blocks of causal self-attention
(`F.scaled_dot_product_attention`) and a 4x GELU MLP; a final LayerNorm; the head tied to the token
embedding; weights N(0, 0.02), the residual projections N(0, 0.02 / sqrt(2 * layers)).

The differences a time budget makes: training stops when `--max-time` seconds of wall-clock time have
passed since this program started (imports and setup included); `lr_decay_iters` (2000 in the recipe)
is set from the speed of the first iterations so that the cosine reaches its floor as the budget ends
(warm-up 100 iterations, or a tenth of the estimate when that is less); nanoGPT's periodic evaluation
on random batches is left out, so the whole budget trains.

Tokens are the characters of the corpus (the sorted distinct characters); the first 90% trains, the
last 10% is held out, split as `charrnn train` splits it. The held-out loss is exact and deterministic:
the split cut into consecutive non-overlapping blocks of 64 characters (the last one shorter), each
position predicting the next character from the positions before it in its block (1 to 64 characters
of context), the mean over every position of the split.

Prints JSON: {"val_loss": ..., "steps": ..., "seconds": ..., "params": ..., "lr_decay_iters": ...}

    python bench/gpt_quality.py [--corpus FILE] [--max-time 120] [--threads 2]
"""

import time

START = time.perf_counter()  # the budget counts from here: imports and setup included

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402

import common  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

BLOCK, BATCH, LAYERS, HEADS, EMBD, DROPOUT, BIAS = 64, 12, 4, 4, 128, 0.0, False
LR, MIN_LR, BETAS, WEIGHT_DECAY, GRAD_CLIP, WARMUP = 1e-3, 1e-4, (0.9, 0.99), 0.1, 1.0, 100
SEED, THREADS = 1337, 2
ESTIMATE_AFTER = 10  # iterations timed to set lr_decay_iters (the first one is left out)


class LayerNorm(nn.Module):
    def __init__(self, n, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(EMBD, 3 * EMBD, bias=BIAS)  # queries, keys and values of all heads
        self.c_proj = nn.Linear(EMBD, EMBD, bias=BIAS)
        self.drop = nn.Dropout(DROPOUT)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = (z.view(b, t, HEADS, c // HEADS).transpose(1, 2) for z in self.c_attn(x).split(EMBD, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=DROPOUT if self.training else 0.0, is_causal=True)
        return self.drop(self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn = LayerNorm(EMBD, BIAS), SelfAttention()
        self.ln_2 = LayerNorm(EMBD, BIAS)
        self.mlp = nn.Sequential(
            nn.Linear(EMBD, 4 * EMBD, bias=BIAS), nn.GELU(), nn.Linear(4 * EMBD, EMBD, bias=BIAS), nn.Dropout(DROPOUT)
        )
        self.mlp[2].residual = True  # a residual projection, like attn.c_proj

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, EMBD), nn.Embedding(BLOCK, EMBD)
        self.drop = nn.Dropout(DROPOUT)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = LayerNorm(EMBD, BIAS)
        self.lm_head = nn.Linear(EMBD, vocab, bias=False)
        self.wte.weight = self.lm_head.weight  # tied
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            for proj in (block.attn.c_proj, block.mlp[2]):
                nn.init.normal_(proj.weight, 0.0, 0.02 / math.sqrt(2 * LAYERS))

    def forward(self, idx):
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(idx.shape[1])))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def optimizer(model):
    """AdamW; weight decay on the parameters of two or more dimensions (matrices, embeddings) only."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=LR, betas=BETAS)


def learning_rate(it, warmup, decay_iters):
    """Linear warm-up, then a cosine from LR down to MIN_LR at `decay_iters`, then MIN_LR."""
    if it < warmup:
        return LR * (it + 1) / (warmup + 1)
    if it > decay_iters:
        return MIN_LR
    ratio = (it - warmup) / max(1, decay_iters - warmup)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


@torch.inference_mode()
def held_out_loss(model, val):
    """Mean loss (nats/char) over every position of `val` in non-overlapping blocks of BLOCK."""
    model.eval()
    total, count, n = 0.0, 0, len(val) - 1  # n predictions
    full = n // BLOCK * BLOCK
    x, y = val[:full].view(-1, BLOCK), val[1 : full + 1].view(-1, BLOCK)
    for i in range(0, len(x), 256):
        logits = model(x[i : i + 256])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[i : i + 256].reshape(-1), reduction="sum")
        count += y[i : i + 256].numel()
    if full < n:  # the last, shorter block
        logits = model(val[full:n].view(1, -1))
        total += F.cross_entropy(logits[0], val[full + 1 : n + 1], reduction="sum")
        count += n - full
    model.train()
    return float(total) / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=common.DEFAULT_CORPUS)
    parser.add_argument("--max-time", type=float, default=120.0, help="wall-clock seconds, setup included")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch.set_num_threads (default 2)")
    args = parser.parse_args()
    deadline = START + args.max_time

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    data, chars = common.encode(args.corpus)
    data = torch.from_numpy(data.astype(np.int64))
    split = common.split_point(len(data))
    train, val = data[:split], data[split:]
    model = GPT(len(chars))
    opt = optimizer(model)
    offsets = torch.arange(BLOCK)

    warmup, decay_iters = WARMUP, None  # decay_iters: set once the first iterations have been timed
    it, timed_from = 0, None
    while time.perf_counter() < deadline:
        if it == 1:
            timed_from = time.perf_counter()
        if it == ESTIMATE_AFTER + 1:
            per_iteration = (time.perf_counter() - timed_from) / ESTIMATE_AFTER
            decay_iters = it + int((deadline - time.perf_counter()) / per_iteration)
            warmup = min(WARMUP, decay_iters // 10)
        lr = learning_rate(it, warmup, decay_iters if decay_iters is not None else 10**9)
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(len(train) - BLOCK, (BATCH,))
        x, y = train[starts[:, None] + offsets], train[starts[:, None] + offsets + 1]
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        opt.step()
        opt.zero_grad(set_to_none=True)
        it += 1
    seconds = time.perf_counter() - START

    result = {
        "val_loss": round(held_out_loss(model, val), 4),
        "steps": it,
        "seconds": round(seconds, 1),
        "params": sum(p.numel() for p in model.parameters()),
        "lr_decay_iters": decay_iters,
        "final_lr": lr,
        "val_chars": len(val),
        "threads": args.threads,
        "torch_version": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
