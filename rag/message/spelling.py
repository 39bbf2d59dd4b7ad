"""Patients misspell the words that matter most ("lukemia", "daratumamab", "nuroblastoma") and write in short forms
("dx", "mets", "rads"). Before retrieval, a word that is neither ordinary English (symspellpy's bundled frequency
list, 82,765 words) nor a word of the library is corrected to the closest word of the library's own vocabulary
(SymSpell, edit distance ≤ 2, the most frequent of the closest), and listed short forms are expanded from a
reviewed table (`abbreviations.tsv`, data). Retrieval sees the original words and the corrections together; the
patient is shown what was searched. symspellpy over rapidfuzz: benchmarks/bench_spelling.py."""
from __future__ import annotations

import csv
import importlib.resources
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import RepliesError

ABBREVIATIONS = Path(__file__).with_name("abbreviations.tsv")
_WORD = re.compile(r"[A-Za-z][A-Za-z'+/-]*[A-Za-z+]|[A-Za-z]")
_LETTERS = re.compile(r"[A-Za-z]+")  # library words: "Epstein-Barr" gives Epstein and Barr
_MIN_LENGTH = 4  # shorter words are too ambiguous to correct ("lum" -> lump? lung?)


@dataclass(frozen=True)
class Searched:
    """What the patient typed, and what was searched: the corrected words and expanded short forms."""
    original: str
    fixes: tuple[tuple[str, str], ...] = field(default=())  # (as typed, as searched)

    @property
    def changed(self) -> bool:
        return bool(self.fixes)

    @property
    def text(self) -> str:
        """The question with each fix in place ("Showing results for: …")."""
        out = self.original
        for typed, searched in self.fixes:
            out = re.sub(rf"(?<![\w+/-]){re.escape(typed)}(?![\w+/-])", searched, out, count=1)
        return out

    @property
    def query(self) -> str:
        """The retrieval query: the original words and the corrections, so nothing typed is lost."""
        return self.original if not self.fixes else f"{self.original} {' '.join(s for _, s in self.fixes)}"


def english_words() -> dict[str, int]:
    """symspellpy's English word list with each word's corpus frequency."""
    text = (importlib.resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt").read_text(encoding="utf-8")
    out = {}
    for line in text.splitlines():
        word, _, count = line.partition(" ")
        if word:
            out[word] = int(count or 0)
    return out


def read_abbreviations(path: Path = ABBREVIATIONS) -> dict[str, tuple[str, bool]]:
    """short form (lower case) -> (expansion, only when typed in capitals)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh, delimiter="\t"))
    except (OSError, UnicodeDecodeError) as err:
        raise RepliesError(f"{path}: cannot read the abbreviations ({err})") from None
    table: dict[str, tuple[str, bool]] = {}
    for no, row in enumerate(rows, 1):
        if not row or row[0].startswith("#") or (no == 1 and row[0] == "abbreviation"):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise RepliesError(f"{path}:{no}: expected an abbreviation, a tab and its expansion")
        table[row[0].strip().lower()] = (row[1].strip(), len(row) > 2 and row[2].strip() == "upper")
    return table


class SpellingCorrector:
    """Corrects a question's unknown words to the library's vocabulary and expands listed short forms."""

    def __init__(self, library_texts: Iterable[str], abbreviations: dict[str, tuple[str, bool]] | None = None,
                 max_distance: int = 2):
        from symspellpy import SymSpell

        counts = Counter(w.lower() for text in library_texts for w in _LETTERS.findall(text))
        self.library = frozenset(counts)
        self.english = english_words()
        self.abbreviations = read_abbreviations() if abbreviations is None else abbreviations
        self.max_distance = max_distance
        self.symspell = SymSpell(max_dictionary_edit_distance=max_distance, prefix_length=7)
        for word, count in counts.items():  # among equally close words, the more common one (in both) wins
            if len(word) >= _MIN_LENGTH:
                self.symspell.create_dictionary_entry(word, count + self.english.get(word, 0) // 1_000_000)

    def known(self, word: str) -> bool:
        return word in self.english or word in self.library

    def correct_word(self, word: str) -> str | None:
        """The library word an unknown word most likely meant, or None (known, short, or nothing close)."""
        from symspellpy import Verbosity

        lower = word.lower()
        if len(lower) < _MIN_LENGTH or not lower.isalpha() or self.known(lower):
            return None
        distance = 1 if len(lower) <= 5 else self.max_distance
        found = self.symspell.lookup(lower, Verbosity.CLOSEST, max_edit_distance=distance)
        return found[0].term if found else None

    def search(self, question: str) -> Searched:
        fixes: list[tuple[str, str]] = []
        for word in _WORD.findall(question):
            expansion = self.abbreviations.get(word.lower())
            if expansion is not None and (not expansion[1] or word.isupper()):
                fixes.append((word, expansion[0]))
                continue
            corrected = self.correct_word(word)
            if corrected:
                fixes.append((word, corrected))
        return Searched(question, tuple(fixes))
