"""charrnn.train's History (the figures of a run as lists, as Keras's fit returns them), and the
metrics.jsonl / loss.svg a run with out_dir keeps, through the C ABI."""

import json
import math
import xml.etree.ElementTree as ET

import pytest

import charrnn

TINY = dict(cell="lstm", layers=1, hidden=8, batch_size=4, seq_length=16, seed=3)


def test_history_has_one_entry_per_validation(corpus_file):
    model, result = charrnn.train(corpus_file, **TINY, max_steps=40, eval_every=10)
    h = result["history"]
    assert isinstance(h, charrnn.History)
    keys = ["step", "epoch", "seconds", "loss", "val_loss", "val_accuracy", "learning_rate", "chars_per_s"]
    assert sorted(h.history) == sorted(keys)
    assert h.history["step"] == [10, 20, 30, 40]
    assert all(len(h.history[k]) == 4 for k in keys)
    assert all(0 < x < 10 for x in h.history["val_loss"] + h.history["loss"])
    assert all(0 <= x <= 1 for x in h.history["val_accuracy"])
    assert h.history["learning_rate"] == pytest.approx([0.002] * 4)
    assert h.epoch == h.history["epoch"] and len(h) == 4
    # The last entry is what train() returned.
    assert h.history["val_loss"][-1] == pytest.approx(result["val_loss"])
    assert h.history["loss"][-1] == pytest.approx(result["train_loss"])
    # Every step's progress report, in order, with the time running.
    assert h.train["step"] == list(range(1, 41))
    assert h.train["seconds"] == sorted(h.train["seconds"])
    assert h.params["max_steps"] == 40
    assert "4 validations" in repr(h)


def test_history_with_a_progress_callback_that_cancels(corpus_file):
    seen = []

    def progress(p):
        seen.append(p.kind)
        return p.kind == "step" and p.step == 5

    model, result = charrnn.train(corpus_file, **TINY, max_steps=40, progress=progress)
    assert result["cancelled"] and seen.count("step") == 5
    assert result["history"].train["step"] == [1, 2, 3, 4, 5]


def test_history_without_validation_text_holds_the_progress_reports(corpus_file):
    model, result = charrnn.train(corpus_file, **TINY, max_steps=12, val_fraction=0)
    h = result["history"]
    assert h.history["step"] == list(range(1, 13))
    assert all(math.isnan(x) for x in h.history["val_loss"])
    assert h.history["loss"] == h.train["loss"]


def test_history_keeps_a_bounded_number_of_reports():
    h = charrnn.History()
    h.MAX_REPORTS = 100
    for step in range(1, 1001):
        h._record(
            dict(
                kind="step",
                step=step,
                epoch=1,
                seconds=step / 10,
                train_loss=1.0,
                learning_rate=0.1,
                chars_per_s=5.0,
                val_loss=math.nan,
                val_accuracy=math.nan,
            )
        )
    steps = list(h.train["step"])
    every = steps[1] - steps[0]
    assert len(steps) <= 100 and steps == list(range(every, 1001, every))
    h._finish()  # the last report is kept too
    assert h.train["step"] == steps + [1000] and h.train["seconds"][-1] == 100


def test_out_dir_run_keeps_metrics_and_chart(corpus_file, tmp_path):
    out = tmp_path / "run"
    model, result = charrnn.train(corpus_file, **TINY, max_steps=20, eval_every=10, out_dir=str(out))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "validation"] == result["history"].history["step"] == [10, 20]
    val = [r["val_loss"] for r in rows if r["kind"] == "validation"]
    assert val == pytest.approx(result["history"].history["val_loss"], rel=1e-5)
    root = ET.parse(out / "loss.svg").getroot()
    ids = {e.get("id") for e in root.iter()}
    assert {"train-loss-0", "val-loss-0", "best-checkpoint-0", "x-label", "y-label"} <= ids


def test_an_error_carries_the_history(corpus_file):
    # A learning rate this large makes SGD's loss explode within a few steps.
    with pytest.raises(charrnn.DivergedError) as info:
        charrnn.train(corpus_file, **TINY, optimizer="sgd", learning_rate=1e6, clip_norm=0, max_steps=200)
    assert isinstance(info.value.history, charrnn.History)
    assert len(info.value.history.train["step"]) >= 1
