"""History: what a training run reported, in the shape of the object Keras's ``fit`` returns."""

from __future__ import annotations

import math as _math

# One entry per validation (Keras's per-epoch lists), and one per kept progress report.
_HISTORY_KEYS = ("step", "epoch", "seconds", "loss", "val_loss", "val_accuracy", "learning_rate", "chars_per_s")
_TRAIN_KEYS = ("step", "epoch", "seconds", "loss", "learning_rate", "chars_per_s")


class History:
    """The figures :func:`charrnn.train` reported, as lists — ``result["history"]``.

    ``history.history`` is a dict of equal-length lists with one entry per validation, as Keras's
    ``History.history`` has one per epoch: ``step``, ``epoch`` (the epoch under way, 1-based),
    ``seconds``, ``loss`` (the smoothed training loss, nats per character), ``val_loss``,
    ``val_accuracy``, ``learning_rate`` and ``chars_per_s``. A run without validation text
    (``val_fraction=0``) has the progress reports there instead, with NaN validation figures.

    ``history.train`` holds the progress reports (``step``, ``epoch``, ``seconds``, ``loss``,
    ``learning_rate``, ``chars_per_s``): every step, or every k-th step of a long run (k doubles
    whenever more than ``MAX_REPORTS`` would be kept, so memory stays bounded), and the last one.

    ``history.epoch`` is ``history.history["epoch"]`` and ``history.params`` the arguments given to
    :func:`charrnn.train`. With matplotlib::

        h = result["history"]
        plt.plot(h.train["step"], h.train["loss"], h.history["step"], h.history["val_loss"])
    """

    MAX_REPORTS = 10_000

    def __init__(self, params=None):
        self.params = dict(params or {})
        self.history = {key: [] for key in _HISTORY_KEYS}
        self.train = {key: [] for key in _TRAIN_KEYS}
        self._every = 1
        self._validated = False
        self._latest = None  # the last progress report, kept at the end when it is off the grid

    @property
    def epoch(self) -> list:
        return list(self.history["epoch"])

    def _record(self, p: dict) -> None:
        """Takes one progress dict of the library's callback (kind "step", "validation", "checkpoint")."""
        kind = p.get("kind")
        if kind == "step":
            self._latest = p
            if p["step"] % self._every:
                return
            self._append(self.train, p)
            if len(self.train["step"]) > self.MAX_REPORTS:
                self._every *= 2
                keep = [i for i, step in enumerate(self.train["step"]) if step % self._every == 0]
                for key, values in self.train.items():
                    self.train[key] = [values[i] for i in keep]
        elif kind == "validation":
            self._validated = True
            self._append(self.history, p)

    def _finish(self) -> "History":
        """Adds the last progress report; without validations, the history holds the progress reports."""
        if self._latest is not None and self._latest["step"] not in self.train["step"][-1:]:
            self._append(self.train, self._latest)
        self._latest = None
        if not self._validated:
            nan = float("nan")
            self.history = {key: list(self.train.get(key, ())) for key in _HISTORY_KEYS}
            self.history["val_loss"] = [nan] * len(self.history["step"])
            self.history["val_accuracy"] = [nan] * len(self.history["step"])
        return self

    @staticmethod
    def _append(table: dict, p: dict) -> None:
        for key, values in table.items():
            values.append(p["train_loss"] if key == "loss" else p[key])

    def __len__(self) -> int:
        return len(self.history["step"])

    def __repr__(self) -> str:
        losses = [x for x in self.history["val_loss"] if not _math.isnan(x)]
        best = f", best val_loss {min(losses):.4f}" if losses else ""
        return f"<charrnn.History {len(self)} validations, {len(self.train['step'])} progress reports{best}>"
