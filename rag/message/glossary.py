"""Searching English documents with a question asked in another language: a reviewed glossary (data:
`glossary/<code>_en.tsv`, e.g. "cáncer de mama → breast cancer") turns the question's medical words into the
documents' words. Words it does not list are kept only when the library itself uses them (cognates and names:
"melanoma", "Ewing", "daratumumab"); the rest (function words) are dropped. The patient's own words are never
shown changed: this is only the search query, and the answer quotes the English sources as they are."""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import RepliesError
from .clean import fold

GLOSSARY_DIR = Path(__file__).with_name("glossary")
_TOKEN = re.compile(r"\w+", re.U)


class Glossary:
    """Phrase table from one language to English; the longest phrase that matches wins."""

    def __init__(self, entries: Iterable[tuple[str, str]]):
        self.phrases: dict[tuple[str, ...], str] = {}
        for source, english in entries:
            key = tuple(_TOKEN.findall(fold(source)))
            if key:
                self.phrases[key] = english
        self.longest = max((len(k) for k in self.phrases), default=0)

    @classmethod
    def load(cls, code: str, extra_dir: Path | None = None) -> "Glossary | None":
        """The glossary for `code` (a clinic's folder first), or None when there is none."""
        for folder in ([Path(extra_dir)] if extra_dir else []) + [GLOSSARY_DIR]:
            path = folder / f"{code}_en.tsv"
            if path.is_file():
                return cls(_read(path))
        return None

    def coverage(self, text: str) -> float:
        """The share of the message's words inside phrases the glossary lists (a sign of its language)."""
        tokens = _TOKEN.findall(fold(text))
        covered = sum(n for english, n in self._matches(tokens) if english is not None)
        return covered / len(tokens) if tokens else 0.0

    def _matches(self, tokens: list[str]) -> Iterator[tuple[str | None, int]]:
        """(English or None for an unlisted word, words consumed), left to right, longest phrase first."""
        i = 0
        while i < len(tokens):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                english = self.phrases.get(tuple(tokens[i:i + n]))
                if english is not None:
                    yield english, n
                    i += n
                    break
            else:
                yield None, 1
                i += 1

    def english_query(self, text: str, known: Callable[[str], bool]) -> str:
        """The question as English search words: listed phrases translated, known library words kept."""
        tokens = _TOKEN.findall(fold(text))
        raw = _TOKEN.findall(text)
        out: list[str] = []
        i = 0
        for english, n in self._matches(tokens):
            if english:
                out.append(english)
            elif english is None and len(tokens[i]) > 2 and known(tokens[i]):
                out.append(raw[i] if len(raw) == len(tokens) else tokens[i])
            i += n
        return " ".join(out)


def _read(path: Path) -> list[tuple[str, str]]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh, delimiter="\t"))
    except (OSError, UnicodeDecodeError) as err:
        raise RepliesError(f"{path}: cannot read the glossary ({err})") from None
    out = []
    for no, row in enumerate(rows, 1):
        if not row or row[0].startswith("#") or (no == 1 and row[-1:] == ["en"]):
            continue
        if len(row) != 2 or not row[0].strip():
            raise RepliesError(f"{path}:{no}: expected two tab-separated columns (term, English)")
        out.append((row[0].strip(), row[1].strip()))
    return out
