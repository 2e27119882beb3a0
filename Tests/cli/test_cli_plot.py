"""Loss curves: the metrics.jsonl and loss.svg every training run keeps in its folder, and `charrnn plot`.

The binary is found as in test_cli.py. Runs are tiny (a few dozen steps on 20k characters).
"""

import json
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET

import pytest

ROOT = os.environ.get("CHARRNN_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.environ.get("CHARRNN_CLI") or os.path.join(ROOT, ".build", "release", "charrnn")
TINY = ["--hidden", "16", "--layers", "1", "--batch-size", "10", "--seq-length", "20"]
FIELDS = {
    "kind",
    "step",
    "epoch",
    "seconds",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "learning_rate",
    "chars_per_s",
    "best_checkpoint",
}
SVG = "{http://www.w3.org/2000/svg}"
CHROMIUMS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]

pytestmark = pytest.mark.skipif(not os.access(CLI, os.X_OK), reason=f"{CLI} not built (make build)")


def run(*args, env=None, timeout=120):
    proc = subprocess.run([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout)
    proc.out = proc.stdout.decode("utf-8", "replace")
    proc.err = proc.stderr.decode("utf-8", "replace")
    return proc


def train(corpus, out, *extra):
    proc = run("train", corpus, *TINY, "--eval-every", "10", "--out", str(out), *extra)
    assert proc.returncode == 0, proc.err
    return proc


def metrics(folder):
    with open(os.path.join(folder, "metrics.jsonl"), encoding="utf-8") as f:
        text = f.read()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def svg_tree(path):
    root = ET.parse(path).getroot()  # well-formed XML, or this raises
    assert root.tag == SVG + "svg"
    return root


def by_id(root):
    return {e.get("id"): e for e in root.iter() if e.get("id")}


def texts(root):
    return [("".join(e.itertext())).strip() for e in root.iter(SVG + "text")]


def polyline_points(element):
    return [tuple(map(float, p.split(","))) for p in element.get("points").split()]


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head[:8]
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def runs(corpus, tmp_path_factory):
    """Two runs that differ in learning rate: a (30 steps) and b (30 steps, lr 0.01)."""
    base = tmp_path_factory.mktemp("plot")
    a, b = base / "a", base / "b"
    train(corpus, a, "--max-steps", "30")
    train(corpus, b, "--max-steps", "30", "--lr", "0.01")
    return str(a), str(b)


# --- metrics.jsonl ---------------------------------------------------------------------------------


def test_metrics_lines_parse_with_every_field(runs):
    a, _ = runs
    rows = metrics(a)
    for row in rows:
        assert set(row) == FIELDS, row
        assert row["kind"] in ("train", "validation")
        assert row["learning_rate"] == pytest.approx(0.002)
        assert row["train_loss"] > 0 and row["seconds"] >= 0 and row["chars_per_s"] > 0 and row["epoch"] > 0
    train_steps = [r["step"] for r in rows if r["kind"] == "train"]
    validations = [r for r in rows if r["kind"] == "validation"]
    # A train line every K steps (K from 1, 2, 5, 10, ...), a validation line at every validation.
    k = train_steps[0]
    assert k in (1, 2, 5, 10, 20, 50) and train_steps == list(range(k, 31, k)), train_steps
    assert [r["step"] for r in validations] == [10, 20, 30]
    for r in validations:
        assert 0 < r["val_loss"] < 10 and 0 <= r["val_accuracy"] <= 1
    # The training lines before the first validation have none yet: null, not NaN.
    assert rows[0]["val_loss"] is None and rows[0]["best_checkpoint"] is None
    # best_checkpoint names the file a validation wrote; the last one named is still there.
    named = [r["best_checkpoint"] for r in validations if r["best_checkpoint"]]
    assert named and os.path.exists(os.path.join(a, named[-1]))
    steps = [r["step"] for r in rows]
    assert steps == sorted(steps)


def test_resumed_run_appends_and_steps_continue(corpus, tmp_path):
    out = tmp_path / "r"
    train(corpus, out, "--max-steps", "20")
    before = metrics(out)
    with open(out / "metrics.jsonl", encoding="utf-8") as f:
        before_text = f.read()
    proc = run("train", corpus, "--resume", str(out / "latest.safetensors"), "--max-steps", "40")
    assert proc.returncode == 0, proc.err
    with open(out / "metrics.jsonl", encoding="utf-8") as f:
        after_text = f.read()
    assert after_text.startswith(before_text)  # appended, nothing rewritten
    after = metrics(out)
    new = after[len(before) :]
    assert new and min(r["step"] for r in new) > 20 and max(r["step"] for r in new) == 40
    assert [r["step"] for r in after] == sorted(r["step"] for r in after)
    assert [r["step"] for r in after if r["kind"] == "validation"] == [10, 20, 30, 40]
    # Training time counts the first run's.
    assert new[0]["seconds"] >= before[-1]["seconds"]
    # The chart follows the whole log: its validation curve has all four points.
    root = svg_tree(out / "loss.svg")
    assert len(polyline_points(by_id(root)["val-loss-0"])) == 4


def test_resume_drops_lines_after_the_checkpoint_and_a_torn_line(corpus, tmp_path):
    """A run killed after its last checkpoint leaves lines the resumed run will write again, and maybe
    half a line: the resumed run keeps the lines up to its checkpoint's step, whole."""
    out = tmp_path / "k"
    train(corpus, out, "--max-steps", "20")
    with open(out / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(
            json.dumps(
                {
                    "kind": "train",
                    "step": 22,
                    "epoch": 0.2,
                    "seconds": 9,
                    "train_loss": 3.0,
                    "val_loss": None,
                    "val_accuracy": None,
                    "learning_rate": 0.002,
                    "chars_per_s": 1,
                    "best_checkpoint": None,
                }
            )
            + "\n"
        )
        f.write('{"kind": "train", "st')
    proc = run("train", corpus, "--resume", str(out / "latest.safetensors"), "--max-steps", "24")
    assert proc.returncode == 0, proc.err
    rows = metrics(out)  # every line parses: the torn one is gone
    steps = [r["step"] for r in rows if r["kind"] == "train"]
    assert steps == sorted(set(steps)) and steps[-1] == 24
    assert all(r["seconds"] != 9 for r in rows)  # the stale line at step 22 was dropped


def test_resumed_into_another_folder_carries_the_curve_over(corpus, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    train(corpus, first, "--max-steps", "20")
    proc = run(
        "train", corpus, "--resume", str(first / "latest.safetensors"), "--max-steps", "30", "--out", str(second)
    )
    assert proc.returncode == 0, proc.err
    rows = metrics(second)
    assert rows[: len(metrics(first))] == metrics(first)
    assert [r["step"] for r in rows if r["kind"] == "validation"] == [10, 20, 30]


def test_new_run_starts_the_log_afresh(corpus, tmp_path):
    out = tmp_path / "n"
    train(corpus, out, "--max-steps", "20")
    train(corpus, out, "--max-steps", "10", "--overwrite")
    assert max(r["step"] for r in metrics(out)) == 10


def test_run_without_validation_text_logs_training(corpus, tmp_path):
    out = tmp_path / "nv"
    train(corpus, out, "--max-steps", "10", "--val-fraction", "0")
    rows = metrics(out)
    assert rows and all(r["kind"] == "train" for r in rows)
    ids = by_id(svg_tree(out / "loss.svg"))
    assert "train-loss-0" in ids and "val-loss-0" not in ids


# --- loss.svg --------------------------------------------------------------------------------------


def test_loss_svg_has_both_curves_axis_labels_and_best_marker(runs):
    a, _ = runs
    root = svg_tree(os.path.join(a, "loss.svg"))
    ids = by_id(root)
    for name in ["title", "x-label", "y-label", "train-loss-0", "val-loss-0", "best-checkpoint-0", "legend"]:
        assert name in ids, name
    assert ids["train-loss-0"].tag == SVG + "polyline" and ids["val-loss-0"].tag == SVG + "polyline"
    assert "step" in "".join(ids["x-label"].itertext())
    assert "loss" in "".join(ids["y-label"].itertext())
    assert "a" in "".join(ids["title"].itertext())
    rows = metrics(a)
    assert len(polyline_points(ids["train-loss-0"])) == len({r["step"] for r in rows})
    assert len(polyline_points(ids["val-loss-0"])) == 3
    # The best checkpoint sits on the validation curve, at its lowest point.
    best = ids["best-checkpoint-0"]
    lowest = min(polyline_points(ids["val-loss-0"]), key=lambda p: -p[1])  # SVG y grows downwards
    assert (float(best.get("cx")), float(best.get("cy"))) == pytest.approx(lowest, abs=0.11)
    assert width_height(root) == (800, 500)
    # Standalone: nothing is fetched.
    text = open(os.path.join(a, "loss.svg"), encoding="utf-8").read()
    assert "href" not in text and "<script" not in text


def width_height(root):
    return int(root.get("width")), int(root.get("height"))


# --- charrnn plot ----------------------------------------------------------------------------------


def test_plot_two_runs_labelled_by_folder_and_differing_options(runs, tmp_path):
    a, b = runs
    out = tmp_path / "both.svg"
    proc = run("plot", a, b, "--out", str(out))
    assert proc.returncode == 0, proc.err
    root = svg_tree(out)
    ids = by_id(root)
    for i in (0, 1):
        assert f"train-loss-{i}" in ids and f"val-loss-{i}" in ids and f"best-checkpoint-{i}" in ids
    labels = [ids["run-0"].get("data-label"), ids["run-1"].get("data-label")]
    assert labels[0].startswith("a (") and labels[1].startswith("b (")
    assert "lr 0.002" in labels[0] and "lr 0.01" in labels[1]
    assert "hidden" not in labels[0]  # only what differs
    legend = texts(ids["legend"])
    assert any(t.startswith("a (lr 0.002)") for t in legend) and any(t.startswith("b (lr 0.01)") for t in legend)
    # The two runs are drawn in different colours.
    assert ids["val-loss-0"].get("stroke") != ids["val-loss-1"].get("stroke")


def test_plot_labels_title_and_metrics_file(runs, tmp_path):
    a, b = runs
    out = tmp_path / "l.svg"
    proc = run(
        "plot",
        os.path.join(a, "metrics.jsonl"),
        b,
        "--labels",
        "base,fast & loud",
        "--title",
        "A <vs> B",
        "--out",
        str(out),
        "--width",
        "640",
        "--height",
        "400",
    )
    assert proc.returncode == 0, proc.err
    root = svg_tree(out)
    ids = by_id(root)
    assert [ids["run-0"].get("data-label"), ids["run-1"].get("data-label")] == ["base", "fast & loud"]
    assert "".join(ids["title"].itertext()) == "A <vs> B"
    assert width_height(root) == (640, 400)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--labels", "one"], "--labels gives 1 labels for 2 runs"),
        (["--out", "chart.pdf"], "--out must end in .svg or .png"),
    ],
)
def test_plot_refuses_bad_options(runs, tmp_path, args, fragment):
    proc = run("plot", *runs, *args)
    assert proc.returncode != 0 and fragment in proc.err, proc.err


def test_plot_of_a_folder_without_metrics_fails_clearly(tmp_path):
    proc = run("plot", str(tmp_path), "--out", str(tmp_path / "x.svg"))
    assert proc.returncode == 1, proc.err
    assert "has no metrics.jsonl" in proc.err and "Fatal error" not in proc.err
    assert not (tmp_path / "x.svg").exists()


def chromium():
    return next((shutil.which(name) for name in CHROMIUMS if shutil.which(name)), None)


@pytest.mark.skipif(chromium() is None, reason="no Chromium installed (make test installs Debian's chromium)")
def test_plot_png_with_chromium(runs, tmp_path):
    out = tmp_path / "both.png"
    proc = run("plot", *runs, "--out", str(out), "--renderer", "chromium", "--width", "700", "--height", "420")
    assert proc.returncode == 0, proc.err
    assert png_size(out) == (700, 420)
    assert out.stat().st_size > 5000  # a drawn chart, not a blank page
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


@pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="rsvg-convert is not installed (librsvg2-bin)")
def test_plot_png_with_rsvg_convert(runs, tmp_path):
    out = tmp_path / "both.png"
    proc = run("plot", *runs, "--out", str(out), "--renderer", "rsvg-convert")
    assert proc.returncode == 0, proc.err
    assert png_size(out) == (800, 500)


def test_plot_png_without_a_renderer_says_what_to_install(runs, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty))
    proc = run("plot", *runs, "--out", str(tmp_path / "x.png"), env=env)
    assert proc.returncode == 1, proc.err
    assert "apt-get install" in proc.err and "chromium" in proc.err and "--out FILE.svg" in proc.err
    assert not (tmp_path / "x.png").exists()
