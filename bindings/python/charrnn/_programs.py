"""The `charrnn` and `charrnn-repl` console scripts of the Python package.

Each replaces the Python process with the native program the package carries (charrnn/bin), so the
program gets the process itself: its signals, exit status, standard input and terminal are the
program's, as when it is run directly. The programs find the bundled model the way an installed copy
does, at <their folder>/../share/charrnn/default.safetensors (charrnn/share/charrnn in the package), so
--model and $CHARRNN_MODEL keep their meaning. $CHARRNN_PYTHON, when unset, is set to this Python: it has
charrnn.keras, with which the programs import a Keras --model (`charrnn import`, --vocab-from).
"""

import os
import signal
import sys

_BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin")


def _exec(name: str) -> None:
    path = os.path.join(_BIN, name)
    # Python starts with SIGPIPE and SIGXFSZ ignored, and an ignored signal stays ignored across exec:
    # give the program the dispositions a shell would.
    for number in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(number, signal.SIG_DFL)
    os.environ.setdefault("CHARRNN_PYTHON", sys.executable)
    # argv[0] is the program's own path: the programs look for their default model relative to the
    # path they were invoked by too, which for the console script (<venv>/bin) is outside the package.
    try:
        os.execv(path, [path, *sys.argv[1:]])
    except OSError as e:
        sys.exit(f"{name}: cannot run {path}: {e.strerror}")


def charrnn() -> None:
    """The `charrnn` command: train, sample, eval, summary, bench."""
    _exec("charrnn")


def charrnn_repl() -> None:
    """The `charrnn-repl` command: line-by-line stateful generation."""
    _exec("charrnn-repl")
