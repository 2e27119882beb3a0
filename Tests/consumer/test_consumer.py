"""charrnn as a Swift package others depend on (issue 20): a clone of the committed HEAD, tagged with the
header's version, is the dependency of a small package (`package/`) that says
`.package(url: <the clone>, from: <version>)`, as a package on GitHub would. SwiftPM refuses a versioned
dependency with unsafe flags, so the build itself checks that there are none. Then:

- `consumer` (Swift, `import CharRNN`) loads the bundled model and generates, makes, saves and reloads a
  model, and trains one for a few steps;
- `cconsumer` (C, the `charrnn` static library product and `#include "charrnn.h"`) generates the same
  characters through the C ABI;
- `internals` uses what CharRNN keeps to itself (the raw parameter buffer, the training graph, the
  unchecked step, the file format's internals) and must not compile.

Offline: swift-argument-parser, the package's one dependency, comes from this machine's mirror of GitHub
(git's url.insteadOf). A first debug build takes about a minute on 2 cores.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "package")
SWIFT = os.environ.get("SWIFT", "swift")


def run(args, cwd=None, timeout=1200, check=True):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, (
            f"{' '.join(args)}: exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def header_version(header):
    return re.search(r'^#define CHARRNN_VERSION_STRING "([0-9]+\.[0-9]+\.[0-9]+)"$', open(header).read(), re.M).group(1)


def fields(output):
    """`key: value` lines; `generated:` runs to the `count:` line (the text holds newlines)."""
    generated = re.search(r"^generated: (.*?)\ncount: ", output, re.S | re.M)
    rest = output[: generated.start(1)] + output[generated.end(1) :] if generated else output
    values = dict(re.findall(r"^([a-z ]+): (.*)$", rest, re.M))
    values["generated"] = generated.group(1) if generated else None
    return values


@pytest.fixture(scope="module")
def consumer(tmp_path_factory):
    """(folder of the built consumer, the clone, the version): HEAD cloned and tagged, the consumer built."""
    tmp = tmp_path_factory.mktemp("consumer")
    clone = str(tmp / "charrnn")
    # The committed HEAD, as CI's fresh clone has it: uncommitted work in ROOT is not part of the test.
    run(["git", "clone", "--quiet", "--no-hardlinks", ROOT, clone])
    version = header_version(os.path.join(clone, "include", "charrnn.h"))
    run(["git", "-C", clone, "tag", "--force", version])
    package = str(tmp / "package")
    shutil.copytree(PACKAGE, package)
    template = os.path.join(package, "Package.swift.in")
    manifest = open(template).read().replace("@URL@", clone).replace("@VERSION@", version)
    os.remove(template)
    with open(os.path.join(package, "Package.swift"), "w") as f:
        f.write(manifest)
    # The README's Swift example, as the clone's README has it.
    readme = open(os.path.join(clone, "README.md"), encoding="utf-8").read()
    (example,) = re.findall(r"```swift\n(.*?)```", readme, re.S)
    os.makedirs(os.path.join(package, "Sources", "readme"))
    with open(os.path.join(package, "Sources", "readme", "main.swift"), "w") as f:
        f.write(example)
    # No shared cache of the dependency's repository: a clone at a new path each run, built from scratch.
    build = ["--scratch-path", str(tmp / ".build"), "--disable-dependency-cache"]
    for product in ("consumer", "cconsumer", "readme"):
        run([SWIFT, "build", *build, "--product", product], cwd=package)
    bin_dir = run([SWIFT, "build", *build, "--show-bin-path"], cwd=package).stdout.strip()
    yield package, build, bin_dir, clone, version


@pytest.fixture(scope="module")
def swift_output(consumer, tmp_path_factory):
    _, _, bin_dir, clone, _ = consumer
    model = os.path.join(clone, "models", "default.safetensors")
    scratch = str(tmp_path_factory.mktemp("scratch"))
    return run([os.path.join(bin_dir, "consumer"), model, scratch], timeout=300).stdout


def test_resolves_the_tagged_version(consumer):
    """SwiftPM took charrnn at the tag, from the clone, as a versioned dependency."""
    package, build, _, clone, version = consumer
    shown = json.loads(run([SWIFT, "package", *build, "show-dependencies", "--format", "json"], cwd=package).stdout)
    (charrnn,) = [d for d in shown["dependencies"] if d["identity"] == "charrnn"]
    assert charrnn["version"] == version and charrnn["url"] == clone, charrnn


def test_swift_program(swift_output, consumer):
    """`import CharRNN`: load, generate, evaluate, create, set weights, save, reload, train."""
    version = consumer[4]
    f = fields(swift_output)
    assert f["version"] == version
    assert f["generated"] is not None and len(f["generated"]) == 40 and f["count"] == "40", swift_output
    assert abs(float(f["probability sum"]) - 1) < 1e-4
    assert 0 < float(f["loss"]) < 10
    assert f["round trip"] == "same"
    assert f["tensors"] == "rnn0.kernel rnn0.recurrent_kernel rnn0.bias dense.kernel dense.bias"
    assert f["trained"] == "3 steps, step 3, loss finite true"
    assert f["unknown character"] == "refused"


def test_c_program(consumer, swift_output):
    """The `charrnn` static library product from C: the header comes with it, the runtime's version is
    the header's, and it generates exactly what the Swift API generates with the same seed."""
    _, _, bin_dir, clone, version = consumer
    model = os.path.join(clone, "models", "default.safetensors")
    out = run([os.path.join(bin_dir, "cconsumer"), model], timeout=300).stdout
    c = fields(out)
    assert c["version"] == version and c["header version"] == version, out
    number, header_number = c["version number"].split()
    assert number == header_number, out
    assert c["count"] == "40" and c["generated"] == fields(swift_output)["generated"], (out, swift_output)


def test_internals_stay_inside(consumer):
    """The raw parameter buffer, weightsDidChange(), TrainingGraph, Session.step and ModelFile are not
    the package's public API: a consumer that uses them does not compile."""
    package, build, _, _, _ = consumer
    proc = run([SWIFT, "build", *build, "--product", "internals"], cwd=package, check=False)
    assert proc.returncode != 0, "internals compiled: CharRNN exposes its internals"
    errors = proc.stdout + proc.stderr
    for name in ("parameters", "weightsDidChange", "TrainingGraph", "ParameterBuffer", "step", "ModelFile"):
        assert re.search(rf"error: .*'{name}'", errors), f"no error for {name}:\n{errors[-4000:]}"


def test_readme_swift_example(consumer):
    """The README's Swift example runs as written, from the repository's folder (its model path)."""
    _, _, bin_dir, clone, version = consumer
    out = run([os.path.join(bin_dir, "readme")], cwd=clone, timeout=300).stdout
    assert len(out) >= 200, out
