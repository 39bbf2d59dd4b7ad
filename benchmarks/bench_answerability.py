"""Answerability and document choice, fitted on labelled questions: out-of-fold figures beside the rules they replace.

    python benchmarks/bench_answerability.py [--index models/index] [--questions F ...] [--write-default]

Fits both learned decisions after retrieval exactly as `rag calibrate` does (rag/evaluate.py: calibrate) on the
bundled bank (rag/answer/bank: answerable questions in patients' wording, grouped by paraphrase; the safety bank's
scope rows) plus any --questions files (e.g. ../shared/eval/dev_out_of_scope_medquad.jsonl as more out-of-scope
rows), and prints, out of fold (group 10-fold):
- answerability: answerable answered and out-of-scope answered at the chosen cut, by file and style, beside the
  single dense threshold it replaces (0.572, calibrated on templated questions) on the same rows;
- document choice: the chosen document right, beside retrieval's own first document.
--write-default stores the fit as the package's default (rag/answer/answerability.json, rag/retrieval/choice.json),
the models an index uses until `rag calibrate` refits them for its own library.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_safety import cpu_model  # noqa: E402
from rag import Config  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.evaluate import bank_files, calibrate, load_cases  # noqa: E402

OLD_DENSE_THRESHOLD = 0.572  # the calibrated threshold before this model (config of commit 5cc4d9b)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Config().index_dir)
    ap.add_argument("--questions", type=Path, action="append", default=[])
    ap.add_argument("--ceiling", type=float, default=0.05, help="out-of-scope answered, out of fold (default 0.05)")
    ap.add_argument("--write-default", action="store_true")
    args = ap.parse_args()
    print(f"CPU: {cpu_model()}")
    engine = Engine.load(Config.from_env(index_dir=args.index))
    result = calibrate(engine, load_cases(bank_files() + args.questions), args.ceiling, progress=False)
    oof = result["out_of_fold"]
    p, y, cases = oof["probability"], oof["answerable"], oof["cases"]
    model = result["answerability"]
    cut = model["threshold"]
    # the rule it replaces, on the same rows: dense similarity of the best answer passage, no learning
    dense = np.array([c for c in _dense_top(engine, cases)])
    old = dense >= OLD_DENSE_THRESHOLD
    new = p >= cut
    print(f"\nAnswerability: {int(y.sum())} answerable, {int((~y).sum())} out-of-scope rows; cut {cut:.3f} "
          f"(out-of-scope answered ≤ {args.ceiling:.0%} out of fold)")
    print("| rows | n | answered: learned (out of fold) | answered: dense ≥ 0.572 |")
    print("|---|---|---|---|")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(cases):
        side = "answerable" if y[i] else "out of scope"
        groups[f"{side} · {Path(c.file).name}"].append(i)
        if y[i] and c.topic:
            groups[f"{side} · style {c.topic}"].append(i)
    for name in sorted(groups):
        idx = groups[name]
        print(f"| {name} | {len(idx)} | {new[idx].mean():.3f} | {old[idx].mean():.3f} |")
    print(f"| **answerable** | {int(y.sum())} | **{new[y].mean():.3f}** | {old[y].mean():.3f} |")
    print(f"| **out of scope** | {int((~y).sum())} | **{new[~y].mean():.3f}** | {old[~y].mean():.3f} |")
    print("\nweights (standardized features): " + ", ".join(f"{f} {w:+.2f}" for f, w in zip(model["features"], model["weights"])))
    choice = result["document_choice"]
    f = choice["fitted"]
    print(f"\nDocument choice on {f['questions']} answerable questions whose gold document was among the candidates: "
          f"right {f['out_of_fold_top_right']:.3f} out of fold, retrieval's first document {f['retrieval_top_right']:.3f}")
    print("weights: " + ", ".join(f"{n} {w:+.2f}" for n, w in zip(choice["features"], choice["weights"])))
    if args.write_default:
        (ROOT / "rag" / "answer" / "answerability.json").write_text(json.dumps(model, indent=1) + "\n")
        (ROOT / "rag" / "retrieval" / "choice.json").write_text(json.dumps(choice, indent=1) + "\n")
        print("\nwritten: rag/answer/answerability.json, rag/retrieval/choice.json")
    return 0


def _dense_top(engine, cases):
    from rag.message.clean import clean

    for c in cases:
        found = engine.retrieve(clean(c.question).text, "en", c.history)
        yield max((h.dense for h in found.hits[: engine.config.answer_passages]), default=0.0)


if __name__ == "__main__":
    sys.exit(main())
