"""Lexical side: one tokenizer (shared by BM25 and answer-sentence scoring) and a BM25 index over passages."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
# question scaffolding that says nothing about the topic
QUESTION_WORDS = frozenset("""
what whats which who whom whose when where why how is are was were do does did can could should would will
may might must i im me my mine we our you your he she his her they them their it its this that these those
there here a an the of to in on for with about from by as at or and but if so not no yes any some
tell know explain mean means please kind kinds type types thing things get got have has had
""".split())
STOPWORDS = frozenset(STOPWORDS_EN_PLUS) | QUESTION_WORDS
_stemmer = Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-worded, stemmed terms; hyphenated words also yield their parts (except negating prefixes)."""
    terms: list[str] = []
    for word in _WORD.findall(text.lower().replace("’", "'")):
        word = word.removesuffix("'s")
        parts = [word]
        if ("-" in word or "'" in word) and not word.startswith(("non-", "anti-")):  # "non-hodgkin" is not "hodgkin"
            parts += re.split(r"[-']", word)
        for part in parts:
            if len(part) > 1 and part not in STOPWORDS:
                terms.append(_stem(part))
    return terms


# Words patients use for what the documents name otherwise (lay term -> document terms). A question term matches
# a passage or sentence that holds the term or any of its document terms; the words are stemmed like any other.
LAY_TERMS: dict[str, str] = {
    "outlook": "prognosis recovery", "chances": "prognosis recovery", "survive": "prognosis survival",
    "survival": "prognosis", "life expectancy": "prognosis", "cure": "prognosis recovery",
    "research": "clinical trials studied", "studies": "clinical trials studied", "experimental": "clinical trials",
    "kids": "childhood children", "kid": "childhood children", "child": "childhood", "teenagers": "adolescents",
    "diagnose": "tests diagnosis", "diagnosed": "tests diagnosis", "detect": "tests screening", "find": "tests",
    "spread": "metastatic stage", "spreads": "metastatic stage", "stages": "stage", "staging": "stage",
    "causes": "risk factors", "cause": "risk factors", "gets": "risk", "prevent": "prevention risk",
    "inherited": "inherited genes genetic", "hereditary": "inherited genes genetic", "runs in families": "inherited family",
    "throat": "pharynx pharyngeal", "voice box": "larynx laryngeal",
    "belly": "abdomen", "tummy": "abdomen", "womb": "uterus uterine", "treat": "treatment", "treated": "treatment",
    "treatments": "treatment", "signs": "symptoms", "side effects": "side effects late effects",
}
_LAY_STEMS: dict[str, set[str]] = {}


def term_groups(text: str) -> list[set[str]]:
    """One group per question term: the term itself plus the document terms of a lay word (see LAY_TERMS)."""
    if not _LAY_STEMS:
        for lay, doc_terms in LAY_TERMS.items():
            key = " ".join(tokenize(lay))
            if key:
                _LAY_STEMS.setdefault(key, set()).update(tokenize(doc_terms))
    terms = tokenize(text)
    groups: list[set[str]] = []
    seen: set[str] = set()
    for i, term in enumerate(terms):
        if term in seen:
            continue
        seen.add(term)
        group = {term} | _LAY_STEMS.get(term, set())
        if i + 1 < len(terms):  # two-word lay terms ("side effects", "voice box")
            group |= _LAY_STEMS.get(f"{term} {terms[i + 1]}", set())
        groups.append(group)
    return groups


def expand(text: str) -> list[str]:
    """The question's terms followed by the document terms of its lay words (for the BM25 query)."""
    terms = tokenize(text)
    extra = [t for g in term_groups(text) for t in sorted(g) if t not in terms]
    return terms + extra


class LexicalIndex:
    """BM25 (bm25s) over pre-tokenized passages; full score vectors are cheap at this corpus size."""

    def __init__(self, bm25: bm25s.BM25, df: dict[str, int]):
        self.bm25 = bm25
        self.vocab: dict[str, int] = bm25.vocab_dict
        self.df = df
        self.n_docs = int(bm25.scores["num_docs"])

    def idf(self, term: str) -> float:
        """Rarity of a term across passages (unknown terms count as rarest)."""
        return float(np.log(1.0 + (self.n_docs - self.df.get(term, 0) + 0.5) / (self.df.get(term, 0) + 0.5)))

    @classmethod
    def build(cls, token_lists: Sequence[list[str]]) -> "LexicalIndex":
        bm25 = bm25s.BM25()
        bm25.index([list(t) if t else ["∅"] for t in token_lists], show_progress=False)
        df: dict[str, int] = {}
        for terms in token_lists:
            for term in set(terms):
                df[term] = df.get(term, 0) + 1
        return cls(bm25, df)

    def group_weights(self, groups: Sequence[set[str]], known_only: bool = False) -> list[float]:
        """Rarity of each word group = its rarest member; known_only counts only members some passage holds
        (a group with none weighs 0)."""
        return [max((self.idf(t) for t in g if not known_only or self.df.get(t)), default=0.0) for g in groups]

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        known = [t for t in query_terms if t in self.vocab]
        if not known:
            return np.zeros(self.n_docs, dtype=np.float32)
        return self.bm25.get_scores(known)

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), show_progress=False)
        (Path(folder) / "df.json").write_text(json.dumps(self.df), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        """ValueError when the files load but do not fit together (bm25s would fail later, on a question)."""
        df = json.loads((Path(folder) / "df.json").read_text(encoding="utf-8"))
        if not isinstance(df, dict):
            raise ValueError("df.json is not a JSON object")
        index = cls(bm25s.BM25.load(str(folder), show_progress=False), df)
        s = index.bm25.scores
        indptr, indices, n_data = np.asarray(s["indptr"]), np.asarray(s["indices"]), len(s["data"])
        if (len(indptr) == 0 or int(indptr[-1]) != n_data or len(indices) != n_data
                or max(index.vocab.values(), default=-1) >= len(indptr)
                or (n_data and int(indices.max()) >= index.n_docs)):
            raise ValueError("its score matrix, vocabulary and document count do not fit together")
        return index
