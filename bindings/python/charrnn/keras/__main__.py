"""python -m charrnn.keras — import Keras models and check them against Keras.

    python -m charrnn.keras compare MODEL TEXTFILE (--vocab STR | --vocab-from CORPUS) [--tolerance 1e-5]
    python -m charrnn.keras import MODEL (--vocab STR|FILE | --vocab-from CORPUS) -o model.safetensors
                                   [--lowercase | --reduce-charset] [--check-text FILE | --no-check]
                                   [--recover-order] [--window N]
    python -m charrnn.keras export MODEL.safetensors -o model.keras [--window N]
    python -m charrnn.keras inspect MODEL

--vocab takes the characters in order (Python escapes allowed), or a .json/.pkl/.pickle file holding them
(a string, a list, or an ix2char or char2ix dict). `import` scores the model on the corpus (or
--check-text) and refuses a vocabulary the model does no better than chance with; --recover-order finds
the order of the characters from that text. `compare` exits with status 1 when a difference exceeds the
tolerance or the vocabulary check fails, 2 on errors.
"""

from __future__ import annotations

import argparse
import io
import json
import pathlib
import sys


def _vocab_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--vocab", help="the vocabulary as an ordered string (Python escapes allowed, e.g. '\\n')")
    g.add_argument("--vocab-from", metavar="CORPUS", help="derive the vocabulary as sorted(set(corpus))")
    n = p.add_mutually_exclusive_group()
    n.add_argument("--lowercase", action="store_true", help="the model was trained on lowercased text")
    n.add_argument(
        "--reduce-charset",
        action="store_true",
        help="the model was trained on text lowercased to a-z and ,.?! \\n:;-' (others a space)",
    )
    n.add_argument(
        "--normalization",
        choices=["none", "lowercase", "reduce_charset", "auto"],
        help="the same as a flag above; auto: the one under which the corpus has the model's number of characters",
    )
    p.add_argument("--encoding", choices=["onehot", "scalar", "embedding"], help="override the input encoding")


def _vocab(args):
    if args.vocab is None:
        return None
    if "\\" not in args.vocab:
        return args.vocab
    # unicode_escape reads bytes as Latin-1: hand it other characters as \uXXXX escapes, not UTF-8 bytes
    return args.vocab.encode("latin-1", "backslashreplace").decode("unicode_escape")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m charrnn.keras", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="run Keras and charrnn on a text and report the largest differences")
    c.add_argument("model")
    c.add_argument("text", help="UTF-8 text file to run both on")
    _vocab_args(c)
    c.add_argument("--tolerance", type=float, default=1e-5)
    c.add_argument("--max-chars", type=int, default=2000, help="compare on at most this many characters")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument(
        "--no-check",
        action="store_true",
        help="do not fail on the vocabulary check (an untrained model scores about ln(V))",
    )
    i = sub.add_parser("import", help="convert a Keras model to a charrnn model file")
    i.add_argument("model")
    _vocab_args(i)
    i.add_argument("-o", "--output", required=True, help="the charrnn model to write (.safetensors)")
    k = i.add_mutually_exclusive_group()
    k.add_argument("--check-text", metavar="FILE", help="score the model on this text (default: the corpus)")
    k.add_argument("--no-check", action="store_true", help="do not score the model (an untrained model)")
    i.add_argument(
        "--recover-order", action="store_true", help="find the order of the characters that explains the text best"
    )
    i.add_argument(
        "--window",
        type=int,
        metavar="N",
        help="generate by re-running the last N characters (default: the model's fixed input length)",
    )
    e = sub.add_parser("export", help="write a charrnn model as a Keras 3 .keras file")
    e.add_argument("model")
    e.add_argument("-o", "--output", required=True)
    e.add_argument(
        "--window",
        type=int,
        default=0,
        metavar="N",
        help="the Keras tutorials' shape: input (batch, N, ...), output the next character only",
    )
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
            if args.normalization is not None:
                args.lowercase = args.normalization == "lowercase"
                args.reduce_charset = args.normalization == "reduce_charset"
            r = ck.compare(
                args.model,
                text,
                vocab=_vocab(args),
                vocab_from=args.vocab_from,
                lowercase=args.lowercase,
                reduce_charset=args.reduce_charset,
                encoding=args.encoding,
                max_chars=args.max_chars,
            )
            check = r["vocab_check"]
            vocab_ok = check is None or check.ok or args.no_check
            ok = r["max"] <= args.tolerance and vocab_ok
            if args.json:
                print(
                    json.dumps(
                        {
                            k: r[k]
                            for k in ("output", "layers", "max", "chars", "keras_layers", "window", "keras_version")
                        }
                        | {
                            "ok": ok,
                            "tolerance": args.tolerance,
                            "vocab_ok": vocab_ok,
                            "vocab_loss": check.loss if check else None,
                            "uniform_loss": check.uniform if check else None,
                        }
                    )
                )
            else:
                print(
                    f"{args.model}: Keras {r['keras_version']}, {r['chars']} characters"
                    + (" (window model compared through a return_sequences=True clone)" if r["window"] else "")
                )
                for layer, d in r["layers"].items():
                    print(f"  {layer:8s} ({r['keras_layers'].get(layer, '?')}): max |diff| {d:.3e}")
                print(f"  output   : max |diff| {r['output']:.3e}")
                close = r["max"] <= args.tolerance
                print(
                    f"{'OK' if close else 'FAIL'}: largest difference {r['max']:.3e} "
                    f"{'<=' if close else '>'} tolerance {args.tolerance:g}"
                )
                if check is not None:
                    verdict = "OK" if check.ok else "IGNORED (--no-check)" if args.no_check else "FAIL"
                    print(
                        f"{verdict}: vocabulary: {check.describe()}"
                        + (
                            ""
                            if vocab_ok
                            else "; Keras and charrnn agree on indices whatever the characters "
                            "are: the vocabulary's order is probably not the model's (try import --recover-order)"
                        )
                    )
            return 0 if ok else 1
        if args.command == "import":
            m, report = ck.import_model(
                args.model,
                vocab=_vocab(args),
                vocab_from=args.vocab_from,
                lowercase=args.lowercase,
                reduce_charset=args.reduce_charset,
                normalization=args.normalization,
                encoding=args.encoding,
                check=not args.no_check,
                check_text=pathlib.Path(args.check_text) if args.check_text else None,
                recover_order=args.recover_order,
                window=args.window,
            )
            with m:
                print(report.describe(), file=sys.stderr)
                m.save(args.output)
                print(f"wrote {args.output}: {m!r}")
            return 0
        if args.command == "export":
            m = charrnn.Model.load(args.model)
            ck.save(m, args.output, window=args.window)
            print(f"wrote {args.output}" + (f" (input: windows of {args.window} characters)" if args.window else ""))
            return 0
        if args.command == "inspect":
            km = ck.read(args.model, encoding=args.encoding)
            print(
                json.dumps(
                    {
                        "keras_version": km.keras_version,
                        "format": km.file_format,
                        "config": km.config,
                        "layers": km.layer_names,
                        "window": km.window,
                        "notes": km.notes,
                        "weights": {f"{l}.{n}": list(a.shape) for (l, n), a in km.weights.items()},
                    },
                    indent=2,
                )
            )
            return 0
    except (charrnn.Error, OSError, ValueError, ImportError) as exc:  # ImportError: compare without Keras
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
