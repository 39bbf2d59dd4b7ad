"""Spelling correction of patients' questions: symspellpy against rapidfuzz, on misspelled questions written for it.

    .venv/bin/pip install rapidfuzz   # the comparison only; not a project dependency
    python benchmarks/bench_spelling.py [--index models/index]

Data: benchmarks/data/misspelled_questions.jsonl — {"typed", "clean", "fixes": {typed word: right word}, "doc"}:
misspelled drug, disease and procedure names and ordinary words, and questions with no typo but rare right words
(trial and drug names, acronyms) that a careless corrector would "fix". Both correctors share the same rule — a
word of 4+ letters that is neither in symspellpy's English list nor in the library is corrected to a library word
within edit distance 2 (1 for words of up to 5 letters) — and differ in the search: SymSpell's symmetric-delete
index (closest, then most frequent) against rapidfuzz's `process.extractOne` (Levenshtein distance over the whole
library vocabulary, then frequency). Prints, in one run: fixes right, fixes missed, words wrongly changed, questions
left exactly right, and the time per question.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_safety import cpu_model  # noqa: E402
from rag import Config  # noqa: E402
from rag.message.spelling import _LETTERS, _MIN_LENGTH, SpellingCorrector  # noqa: E402
from rag.store.index import PassageIndex  # noqa: E402


class RapidfuzzCorrector(SpellingCorrector):
    """The same decision rule, with rapidfuzz's nearest-string search instead of SymSpell's index."""

    def __init__(self, library_texts, abbreviations, max_distance: int = 2):
        super().__init__(library_texts, abbreviations, max_distance)
        counts = Counter(w.lower() for t in library_texts for w in _LETTERS.findall(t))
        self.choices = [w for w in counts if len(w) >= _MIN_LENGTH]
        self.counts = counts

    def correct_word(self, word: str) -> str | None:
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        lower = word.lower()
        if len(lower) < _MIN_LENGTH or not lower.isalpha() or self.known(lower):
            return None
        limit = 1 if len(lower) <= 5 else self.max_distance
        found = process.extract(lower, self.choices, scorer=Levenshtein.distance, score_cutoff=limit, limit=20)
        if not found:
            return None
        best = min(d for _, d, _ in found)
        return max((w for w, d, _ in found if d == best),
                   key=lambda w: self.counts[w] + self.english.get(w, 0) // 1_000_000)


def score(corrector, rows) -> dict[str, float]:
    right = missed = wrong = exact = 0
    times = []
    for r in rows:
        t = time.perf_counter()
        fixes = {typed.lower(): fixed.lower() for typed, fixed in corrector.search(r["typed"]).fixes
                 if not corrector.abbreviations.get(typed.lower())}
        times.append((time.perf_counter() - t) * 1000)
        want = {k.lower(): v.lower() for k, v in r["fixes"].items()}
        right += sum(fixes.get(k) == v for k, v in want.items())
        missed += sum(fixes.get(k) != v for k, v in want.items())
        wrong += sum(k not in want for k in fixes)
        exact += fixes == want
    n_fix = sum(len(r["fixes"]) for r in rows)
    return {"fixes right": right / n_fix, "fixes missed": missed / n_fix, "words wrongly changed": wrong,
            "questions exactly right": exact / len(rows), "ms / question p50": statistics.median(times),
            "ms / question p95": sorted(times)[int(0.95 * len(times))]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=ROOT / "models" / "index")
    ap.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "data" / "misspelled_questions.jsonl")
    args = ap.parse_args()
    print(f"CPU: {cpu_model()}")
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    index = PassageIndex.load(Config.from_env(index_dir=args.index).index_dir)
    texts = [c.text for c in index.chunks]
    results = {}
    for name, cls in (("symspellpy", SpellingCorrector), ("rapidfuzz", RapidfuzzCorrector)):
        t = time.perf_counter()
        corrector = cls(texts, {})
        built = time.perf_counter() - t
        results[name] = {"build s": built, **score(corrector, rows)}
    keys = list(next(iter(results.values())))
    print(f"\n{len(rows)} questions, {sum(len(r['fixes']) for r in rows)} misspelled words, "
          f"{sum(not r['fixes'] for r in rows)} questions with none\n")
    print("| corrector | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, figs in results.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in figs.values()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
