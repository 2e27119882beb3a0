"""Is this the vocabulary the model was trained with, and if its order is lost, which order is it?

A model imported with its characters in the wrong order loads and runs, and generates garbage: nothing
in a Keras file says which index is which character. The text the model was trained on says it. A model
given the right order predicts that text far better than chance; given a wrong one, worse than chance
(it is confidently wrong). :func:`score` measures the first, and :func:`recover` searches the orders for
the one that explains the text best:

1. Start from the output layer's bias (or, without one, the model's average prediction), which tracks
   how often each character occurs: the most frequent character gets the index with the largest bias.
2. Alternate: run the model over the text as the current order encodes it, and give each character the
   index whose predicted probabilities best fit the places where the character comes next (a linear
   assignment, solved exactly). Repeat until the order stops changing.
3. Polish with pairwise swaps of characters, scored by the library's loss, the most promising first.

How sure the answer is: the loss of the order found against the best order one swap away (the closest
rival), summed over the text, and against the uniform ln(V).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._steps import Network

__all__ = ["VocabularyCheck", "OrderRecovery", "score", "recover", "SUSPICIOUS_FRACTION"]

# A model that knows the text scores well below ln(V); one whose characters are shuffled scores near or
# above it. Refused from this fraction of ln(V) up: an untrained model (about ln(V)) is refused too.
SUSPICIOUS_FRACTION = 0.9
CHECK_CHARS = 20_000  # characters scored after an import
WINDOW_CHECKS = 2000  # windows scored for a window model that fails over the whole text
SEARCH_CHARS = 3000  # characters the order search runs on (plus snippets of rarer characters)
SWAPS_PER_ROUND = 20  # swaps that fail in a row before the search's polishing stops
FINAL_SWAPS_PER_ROUND = 10  # the same on up to CHECK_CHARS characters, where each costs more
MAX_ROUNDS = 12  # assignment iterations, and polishing rounds
SURE_NATS = 3.0  # the closest rival is e^3 = 20 times less likely on the text: sure
PLACEHOLDER_BASE = 0xF0000  # Supplementary Private Use Area-A: characters no text normalisation touches


@dataclass
class VocabularyCheck:
    """The model's loss on a text it should know, against guessing uniformly."""

    loss: float  # mean nats per predicted character
    uniform: float  # ln(V)
    chars: int  # characters scored
    skipped: int  # characters of the text outside the vocabulary, left out
    source: str  # where the text came from

    @property
    def ok(self) -> bool:
        return self.loss < SUSPICIOUS_FRACTION * self.uniform

    def describe(self) -> str:
        rel = "above" if self.loss >= self.uniform else "near" if not self.ok else "below"
        skipped = f", {self.skipped} characters outside the vocabulary skipped" if self.skipped else ""
        return (
            f"loss {self.loss:.3f} nats/char on {self.chars} characters of {self.source}{skipped}, {rel} the "
            f"{self.uniform:.3f} of guessing uniformly among {round(math.exp(self.uniform))} characters"
        )


@dataclass
class OrderRecovery:
    """The order of the characters that explains the text best, and how sure that is."""

    vocab: str  # the characters in index order
    loss: float  # mean nats/char of that order on the search text
    uniform: float  # ln(V)
    given_loss: float | None  # the order given (None when none was)
    next_best_loss: float | None  # the best order one swap away (None for V < 2)
    next_best_swap: tuple | None  # the two characters that swap gives
    predictions: int  # characters predicted in the search text
    undetermined: str  # characters absent from the text: their places are guesses

    @property
    def margin(self) -> float:
        """Total nats by which the closest rival explains the search text worse: it is e^margin times
        less likely."""
        if self.next_best_loss is None:
            return math.inf
        return (self.next_best_loss - self.loss) * self.predictions

    @property
    def sure(self) -> bool:
        return self.margin >= SURE_NATS and not self.undetermined and self.loss < SUSPICIOUS_FRACTION * self.uniform

    def describe(self) -> str:
        parts = [
            f"recovered the order of the {len(self.vocab)} characters: loss {self.loss:.3f} nats/char on "
            f"{self.predictions} characters (uniform {self.uniform:.3f}"
            + (f"; the order given: {self.given_loss:.3f}" if self.given_loss is not None else "")
            + ")"
        ]
        if self.next_best_swap is not None:
            a, b = self.next_best_swap
            parts.append(
                f"the closest other order found (swapping {a!r} and {b!r}) scores "
                f"{self.next_best_loss:.4f}: {_times(self.margin)} less likely on this text"
            )
        if self.undetermined:
            parts.append(
                f"{len(self.undetermined)} characters never occur in the text, so their places are "
                f"guesses: {''.join(sorted(self.undetermined))!r}"
            )
        parts.append("sure" if self.sure else "NOT sure: give more text, or the order itself")
        return "; ".join(parts)


def _times(nats: float) -> str:
    """e^nats as a factor a person reads: "90 times (e^4.5)"."""
    if nats > 40:
        return f"e^{nats:.0f} times"
    return f"{math.exp(nats):.3g} times (e^{nats:.1f})"


# ------------------------------------------------------------------------------------------------
# scoring


def score(model, text: str, source: str, max_chars: int = CHECK_CHARS) -> VocabularyCheck | None:
    """The model's loss on (normalised) `text`, or None when fewer than two of its characters are in the
    vocabulary (nothing to score). A model with a generation window that fails when run over the text
    from one state is scored again as it was trained, on windows (WINDOW_CHECKS of them): a model that
    only ever saw windows may drift over a long text without its vocabulary being wrong."""
    known = set(model.vocab)
    kept = [c for c in text[:max_chars] if c in known]
    skipped = min(len(text), max_chars) - len(kept)
    if len(kept) < 2:
        return None
    r = model.evaluate("".join(kept))
    check = VocabularyCheck(
        loss=float(r.loss), uniform=math.log(model.vocab_size), chars=len(kept), skipped=skipped, source=source
    )
    window = int(model.config.get("window", 0))
    if not check.ok and window and len(kept) > window:
        index = {c: i for i, c in enumerate(model.vocab)}
        ids = np.array([index[c] for c in kept], dtype=np.int64)
        ends = np.arange(window, len(ids))[:WINDOW_CHECKS]
        windows = ids[ends[:, None] - window + np.arange(window)[None, :]]
        logp = Network(model.config, model.get_weights).last_step(windows)
        check = VocabularyCheck(
            loss=float(-logp[np.arange(len(ends)), ids[ends]].mean()),
            uniform=check.uniform,
            chars=len(ends),
            skipped=skipped,
            source=f"{source} (windows of {window})",
        )
    return check


# ------------------------------------------------------------------------------------------------
# recovering the order


def search_text(text: str, chars: str, max_chars: int = SEARCH_CHARS) -> str:
    """The first `max_chars` characters of `text`, plus a snippet around the first occurrence of each
    vocabulary character they lack: a rare character placed from one snippet beats one never seen."""
    base = text[:max_chars]
    seen = set(base)
    pieces = [base]
    for c in chars:
        if c in seen:
            continue
        at = text.find(c, max_chars)
        if at >= 0:
            snippet = text[max(0, at - 60) : at + 60]
            pieces.append(snippet)
            seen.update(snippet)
    return "\n".join(pieces) if "\n" in chars else "".join(pieces)


class _Probe:
    """The model over placeholder characters: text encoded by a candidate order is scored without
    building a model per order; and in numpy, the costs the assignment steps minimise."""

    def __init__(self, make_model, config, weights, text_ids, size):
        self.placeholders = np.array([chr(PLACEHOLDER_BASE + i) for i in range(size)])
        self.model = make_model("".join(self.placeholders))
        self.net = Network(config, weights)
        self.size = size
        self.use(text_ids)

    def use(self, text_ids) -> None:
        """Scores and costs on another text from now on."""
        self.ids = text_ids
        targets = np.zeros((len(text_ids) - 1, self.size))
        targets[np.arange(len(text_ids) - 1), text_ids[1:]] = 1.0
        self.targets = targets  # (T-1, V) one-hot of the next character's id
        self.bigrams = np.zeros((self.size, self.size))
        np.add.at(self.bigrams, (text_ids[:-1], text_ids[1:]), 1.0)
        self.cache = {}

    def loss(self, order: np.ndarray) -> float:
        """Mean nats/char of the model on the text with character id c at index order[c]."""
        key = order.tobytes()
        if key not in self.cache:
            self.cache[key] = float(self.model.evaluate("".join(self.placeholders[order[self.ids]])).loss)
        return self.cache[key]

    def costs(self, order: np.ndarray) -> np.ndarray:
        """(V chars, V indices): the negative log-likelihood of the text's next characters if character c
        were index i, with the inputs encoded by `order` (the assignment's cost matrix). The text runs as
        pieces side by side (Network.run): these costs rank candidates, the loss decides."""
        return -(self.targets.T @ self.net.run(order[self.ids], approximate=True)[:-1])

    def close(self):
        self.model.close()


def recover(
    make_model,
    config: dict,
    weights,
    chars: str,
    text: str,
    given: str | None = None,
    max_chars: int = SEARCH_CHARS,
    seed: int = 0,
) -> OrderRecovery:
    """The order of `chars` that explains `text` best under the model (`config`, and `weights` as a dict
    (layer, weight) -> array or a callable; `make_model(vocab)` builds it as a charrnn Model for scoring).
    `text` is normalised already; `given` is the order to report a loss for (or None).

    The search runs on `max_chars` characters of the text, then goes on over up to CHECK_CHARS with
    fewer candidates a round: a few thousand characters hold too few of the rare ones to place them."""
    size = len(chars)
    pos = {c: i for i, c in enumerate(chars)}

    def ids_of(sample):
        return np.array([pos[c] for c in sample if c in pos], dtype=np.int64)

    ids = ids_of(search_text(text, chars, max_chars))
    if len(ids) < 2:
        raise ValueError("the text has fewer than two characters of the vocabulary: nothing to recover the order from")
    probe = _Probe(make_model, config, weights, ids, size)
    try:
        surprise = -probe.net.zero_step()
        candidates = [_initial_order(probe, weights, np.bincount(ids[1:], minlength=size), size)]
        candidates += _faq_orders(probe.bigrams, surprise, np.random.default_rng(seed))
        order = min({c.tobytes(): c for c in candidates}.values(), key=probe.loss)
        order = _alternate(probe, order)
        order, rivals = _polish(probe, order, surprise, SWAPS_PER_ROUND)
        full = ids_of(search_text(text, chars, CHECK_CHARS))
        if len(full) > len(ids):
            probe.use(full)
            order, rivals = _polish(probe, order, surprise, FINAL_SWAPS_PER_ROUND)
        best = probe.loss(order)
        given_loss = probe.loss(np.array([given.index(c) for c in chars])) if given is not None else None
    finally:
        probe.close()
    vocab = [""] * size
    for c, i in zip(chars, order):
        vocab[i] = c
    present = set(chars[i] for i in probe.ids)
    next_loss, swap = min(rivals) if rivals else (None, None)
    if swap is not None:
        swap = (chars[swap[0]], chars[swap[1]])
    return OrderRecovery(
        vocab="".join(vocab),
        loss=best,
        uniform=math.log(size),
        given_loss=given_loss,
        next_best_loss=next_loss,
        next_best_swap=swap,
        predictions=len(probe.ids) - 1,
        undetermined="".join(c for c in chars if c not in present),
    )


def _initial_order(probe: _Probe, weights, counts, size) -> np.ndarray:
    """Frequent characters to the indices the model favours a priori: the output bias ranked against the
    characters' counts (by the rearrangement inequality, what the assignment gives for these costs)."""
    try:
        bias = weights("dense", "bias") if callable(weights) else weights.get(("dense", "bias"))
    except Exception:  # a callable source without that weight: a Dense layer without bias
        bias = None
    if bias is not None:
        prior = np.asarray(bias, dtype=np.float64)
    else:  # no bias: the model's total log-probability for each index over the text, any order
        prior = -probe.costs(np.arange(size)).sum(axis=0)
    order = np.empty(size, dtype=np.int64)
    order[np.argsort(-counts, kind="stable")] = np.argsort(-prior, kind="stable")
    return order


def _faq_orders(bigrams, surprise, rng, restarts: int = 6) -> list:
    """Orders minimising the bigram cost sum N[c, d] * surprise[order[c], order[d]] (a quadratic
    assignment problem): the Frank-Wolfe relaxation of Vogelstein et al. (FAQ, 2015) from the barycenter
    and from random doubly stochastic starts, each rounded to a permutation."""
    size = len(bigrams)
    starts = [np.full((size, size), 1.0 / size)]
    for _ in range(restarts - 1):
        starts.append((np.full((size, size), 1.0 / size) + _sinkhorn(rng.uniform(size=(size, size)))) / 2)
    orders = []
    for p in starts:
        p = _faq(bigrams, surprise, p)
        rows, cols = assignment(-p)
        order = np.empty(size, dtype=np.int64)
        order[rows] = cols
        orders.append(order)
    return orders


def _faq(a, b, p, max_iter: int = 30, tol: float = 0.03):
    """Frank-Wolfe on the doubly stochastic relaxation of min trace(A P B^T P^T)."""
    size = len(a)
    eye = np.eye(size)
    for _ in range(max_iter):
        grad = a @ p @ b.T + a.T @ p @ b
        _, cols = assignment(grad)
        q = eye[cols]
        r = p - q
        ar = a.T @ r
        br = b @ r.T
        quad = (ar.T * br).sum()
        lin = (ar * b.T[cols]).sum() + (a * br[cols]).sum()
        if quad > 0 and 0 <= -lin / (2 * quad) <= 1:
            alpha = -lin / (2 * quad)
        else:
            alpha = 1.0 if lin + quad < 0 else 0.0
        nxt = alpha * p + (1 - alpha) * q
        done = np.linalg.norm(p - nxt) / math.sqrt(size) < tol
        p = nxt
        if done:
            break
    return p


def _sinkhorn(m, iterations: int = 200):
    """A doubly stochastic matrix from a positive one (alternate row and column normalisation)."""
    for _ in range(iterations):
        m = m / m.sum(axis=1, keepdims=True)
        m = m / m.sum(axis=0, keepdims=True)
    return m


def _swap_deltas(flow, dist):
    """(V, V): for each pair r < s, the change of sum flow[c, d] * dist[c, d] when c and d are relabelled
    by the transposition (r s) on the flow side (Taillard's formula, vectorised; dist is in the current
    order's character space)."""
    a, b = flow, dist
    atb, abt = a.T @ b, a @ b.T
    d1, d2 = np.diag(atb), np.diag(abt)
    s1 = atb - d1[:, None] - d1[None, :] + atb.T
    s2 = abt - d2[:, None] - d2[None, :] + abt.T
    ar, br = np.diag(a), np.diag(b)
    # the k = r and k = s terms that the sums over all k included
    k_r = (ar[:, None] - a) * (b - br[:, None]) + (ar[:, None] - a.T) * (b.T - br[:, None])
    k_s = (a.T - ar[None, :]) * (br[None, :] - b.T) + (a - ar[None, :]) * (br[None, :] - b)
    pairs = (
        ar[:, None] * (br[None, :] - br[:, None])
        + a * (b.T - b)
        + a.T * (b - b.T)
        + ar[None, :] * (br[:, None] - br[None, :])
    )
    return pairs + s1 + s2 - k_r - k_s


def _alternate(probe: _Probe, order: np.ndarray) -> np.ndarray:
    """Assignment steps (each character to the output index that best predicts where it comes next,
    the inputs encoded as `order` encodes them: a linear assignment, which moves any number of
    characters at once) while they lower the loss."""
    best, best_loss = order, probe.loss(order)
    for _ in range(MAX_ROUNDS):
        rows, cols = assignment(probe.costs(best))
        candidate = np.empty_like(best)
        candidate[rows] = cols
        if np.array_equal(candidate, best):
            break
        loss = probe.loss(candidate)
        if loss >= best_loss:
            break
        best, best_loss = candidate, loss
    return best


def _polish(probe: _Probe, order: np.ndarray, surprise, patience: int, rerank: bool = True):
    """Pairwise swaps scored by the library's loss, the most promising first, each kept when it lowers
    the loss, until `patience` in a row do not. A swap is ranked by the change it makes to the outputs'
    cost plus the change to the bigram cost (what each input alone predicts next); the ranking is made
    again after each kept swap with `rerank`, else once (the numpy run it needs costs more than a few
    swaps on a long text). Returns the order and the last `patience` swaps tried
    [(loss, (char id a, char id b))], all at least as bad: its closest rivals."""
    size = len(order)
    a_idx, b_idx = np.triu_indices(size, k=1)
    tried = []
    while True:
        outputs = probe.costs(order)[:, order]  # outputs[c, d]: character c at d's index
        own = np.diag(outputs)
        estimate = (
            outputs + outputs.T - own[:, None] - own[None, :] + _swap_deltas(probe.bigrams, surprise[order][:, order])
        )
        ranked = np.argsort(estimate[a_idx, b_idx], kind="stable")
        current, tried, kept = probe.loss(order), [], False
        for k in ranked:
            a, b = int(a_idx[k]), int(b_idx[k])
            swapped = order.copy()
            swapped[a], swapped[b] = order[b], order[a]
            loss = probe.loss(swapped)
            if loss < current - 1e-12:
                order, current, tried, kept = swapped, loss, [], True
                if rerank:
                    break
                continue
            tried.append((loss, (a, b)))
            if len(tried) >= patience:
                break
        if not (kept and rerank):
            return order, tried


# ------------------------------------------------------------------------------------------------
# the linear assignment problem


def assignment(cost: np.ndarray):
    """(rows, cols) of the minimum-cost perfect matching of a square cost matrix."""
    return _hungarian(cost)


def _hungarian(cost: np.ndarray):
    """Shortest augmenting paths with potentials (the e-maxx formulation), one row at a time."""
    n = cost.shape[0]
    inf = math.inf
    u = np.zeros(n + 1)
    v = np.zeros(n + 1)
    p = np.zeros(n + 1, dtype=np.int64)  # p[j]: the row matched to column j (1-based; 0 = none)
    way = np.zeros(n + 1, dtype=np.int64)
    a = np.zeros((n + 1, n + 1))
    a[1:, 1:] = cost
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(n + 1, inf)
        used = np.zeros(n + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            cur = a[i0, 1:] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            masked = np.where(free, minv[1:], inf)
            j1 = int(np.argmin(masked)) + 1
            delta = masked[j1 - 1]
            u[p[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    rows = p[1:] - 1
    cols = np.arange(n)
    order = np.argsort(rows)
    return rows[order], cols[order]
