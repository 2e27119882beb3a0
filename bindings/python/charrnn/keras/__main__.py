"""python -m charrnn.keras — import Keras models and check them against Keras.

    python -m charrnn.keras compare MODEL TEXTFILE (--vocab STR | --vocab-from CORPUS) [--tolerance 1e-5]
    python -m charrnn.keras import MODEL (--vocab STR | --vocab-from CORPUS) -o model.safetensors
    python -m charrnn.keras export MODEL.safetensors -o model.keras
    python -m charrnn.keras inspect MODEL

`compare` exits with status 1 when a difference exceeds the tolerance, 2 on errors.
"""

from __future__ import annotations

import argparse
import io
import json
import sys


def _vocab_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--vocab", help="the vocabulary as an ordered string (Python escapes allowed, e.g. '\\n')")
    g.add_argument("--vocab-from", metavar="CORPUS", help="derive the vocabulary as sorted(set(corpus))")
    p.add_argument("--lowercase", action="store_true", help="lowercase the corpus (and the text) first")
    p.add_argument("--encoding", choices=["onehot", "scalar", "embedding"], help="override the input encoding")


def _vocab(args):
    if args.vocab is None:
        return None
    if "\\" not in args.vocab:
        return args.vocab
    # unicode_escape reads bytes as Latin-1: hand it other characters as \uXXXX escapes, not UTF-8 bytes
    return args.vocab.encode("latin-1", "backslashreplace").decode("unicode_escape")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m charrnn.keras", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="run Keras and charrnn on a text and report the largest differences")
    c.add_argument("model")
    c.add_argument("text", help="UTF-8 text file to run both on")
    _vocab_args(c)
    c.add_argument("--tolerance", type=float, default=1e-5)
    c.add_argument("--max-chars", type=int, default=2000, help="compare on at most this many characters")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    i = sub.add_parser("import", help="convert a Keras model to a charrnn model file")
    i.add_argument("model")
    _vocab_args(i)
    i.add_argument("-o", "--output", required=True, help="the charrnn model to write (.safetensors)")
    e = sub.add_parser("export", help="write a charrnn model as a Keras 3 .keras file")
    e.add_argument("model")
    e.add_argument("-o", "--output", required=True)
    s = sub.add_parser("inspect", help="print what charrnn reads from a Keras file")
    s.add_argument("model")
    s.add_argument("--encoding", choices=["onehot", "scalar", "embedding"])
    args = parser.parse_args(argv)

    import charrnn
    import charrnn.keras as ck
    from charrnn.keras._files import open_regular

    try:
        if args.command == "compare":
            with io.TextIOWrapper(open_regular(args.text), encoding="utf-8", newline="") as fh:
                text = fh.read()
            r = ck.compare(args.model, text, vocab=_vocab(args), vocab_from=args.vocab_from,
                           lowercase=args.lowercase, encoding=args.encoding, max_chars=args.max_chars)
            ok = r["max"] <= args.tolerance
            if args.json:
                print(json.dumps({k: r[k] for k in ("output", "layers", "max", "chars", "keras_layers", "window",
                                                    "keras_version")} | {"ok": ok, "tolerance": args.tolerance}))
            else:
                print(f"{args.model}: Keras {r['keras_version']}, {r['chars']} characters"
                      + (" (window model compared through a return_sequences=True clone)" if r["window"] else ""))
                for layer, d in r["layers"].items():
                    print(f"  {layer:8s} ({r['keras_layers'].get(layer, '?')}): max |diff| {d:.3e}")
                print(f"  output   : max |diff| {r['output']:.3e}")
                print(f"{'OK' if ok else 'FAIL'}: largest difference {r['max']:.3e} "
                      f"{'<=' if ok else '>'} tolerance {args.tolerance:g}")
            return 0 if ok else 1
        if args.command == "import":
            m = ck.load(args.model, vocab=_vocab(args), vocab_from=args.vocab_from, lowercase=args.lowercase,
                        encoding=args.encoding)
            m.save(args.output)
            print(f"wrote {args.output}: {m!r}")
            return 0
        if args.command == "export":
            m = charrnn.Model.load(args.model)
            ck.save(m, args.output)
            print(f"wrote {args.output}")
            return 0
        if args.command == "inspect":
            km = ck.read(args.model, encoding=args.encoding)
            print(json.dumps({"keras_version": km.keras_version, "format": km.file_format, "config": km.config,
                              "layers": km.layer_names, "window": km.window, "notes": km.notes,
                              "weights": {f"{l}.{n}": list(a.shape) for (l, n), a in km.weights.items()}},
                             indent=2))
            return 0
    except (charrnn.Error, OSError, ValueError, ImportError) as exc:   # ImportError: compare without Keras
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
