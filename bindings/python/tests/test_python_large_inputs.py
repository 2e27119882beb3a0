"""Files too large for memory are refused with OutOfMemoryError before anything is allocated for them, and
max_chars reads only the prefix it needs: a failed allocation in the library would abort the interpreter.
Each case runs in a child interpreter under an address-space limit (ulimit -v), so it does not depend on
the machine's RAM, on sparse files of 1–2 GB that take no disk space."""

import subprocess
import sys
import textwrap

LIMIT = 4 << 30  # address space for the child: the interpreter, numpy and the library fit in well under 1 GB


def run_limited(tmp_path, body):
    script = textwrap.dedent(f"""
        import resource, charrnn
        resource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, {LIMIT}))
    """) + textwrap.dedent(body)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"child died ({result.returncode}): {result.stderr[-2000:]}"
    return result.stdout


def sparse_text(path, text, size):
    path.write_text(text, encoding="utf-8")
    with open(path, "r+b") as f:
        f.truncate(size)  # NUL bytes after the text: valid UTF-8, no disk blocks


def test_a_corpus_too_large_for_memory_is_refused(tmp_path, corpus_text):
    sparse_text(tmp_path / "big.txt", corpus_text[:20000], 1 << 30)
    out = run_limited(
        tmp_path,
        """
        try:
            charrnn.train("big.txt", layers=1, hidden=8, max_steps=1, seq_length=10, batch_size=2)
        except charrnn.OutOfMemoryError as e:
            print("refused:", e)
    """,
    )
    assert "refused: reading big.txt (1073741824 bytes) would need about" in out


def test_max_chars_reads_only_its_prefix(tmp_path, corpus_text):
    # Decoding the whole 1 GB file would take 4 GB for its characters alone.
    sparse_text(tmp_path / "big.txt", corpus_text[:20000], 1 << 30)
    out = run_limited(
        tmp_path,
        """
        m, r = charrnn.train("big.txt", max_chars=5000, layers=1, hidden=8, max_steps=1, seq_length=10,
                             batch_size=2, val_fraction=0)
        print("trained on", r["steps"] if isinstance(r, dict) else r)
    """,
    )
    assert "trained on" in out


def test_a_model_file_too_large_for_memory_is_refused(tmp_path):
    with open(tmp_path / "huge.safetensors", "wb") as f:
        f.truncate(2 << 30)
    out = run_limited(
        tmp_path,
        """
        try:
            charrnn.Model.load("huge.safetensors")
        except charrnn.OutOfMemoryError as e:
            print("refused:", e)
    """,
    )
    assert "refused: reading huge.safetensors" in out
