"""Answer stage: verbatim sentences from retrieved passages, each tied to a numbered citation."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .index import PassageIndex
from .documents import review_state
from .lexical import LexicalIndex, tokenize
from .retriever import Hit

ANSWERED, NO_ANSWER, URGENT = "answered", "no_answer", "urgent"

NO_ANSWER_MESSAGE = (
    "I'm sorry — my trusted sources don't cover this question, so I can't answer it. "
    "Please ask your doctor or care team; they can help with questions about your own situation."
)
_MIN_SENTENCE_WORDS = 4


@dataclass
class AnswerSentence:
    text: str
    citation: int


@dataclass
class Citation:
    n: int
    doc_id: str
    title: str
    url: str
    section: str
    quote: str
    passage_id: str
    score: float
    last_reviewed: str | None
    review_overdue: bool | None


@dataclass
class Answer:
    question: str
    status: str
    answer: str
    sentences: list[AnswerSentence] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # beyond the JSON contract: for the staff console, the audit log and evaluation
    hits: list[Hit] = field(default_factory=list)
    retrieval_query: str = ""
    reason: str = ""  # why no_answer/urgent: threshold, no_overlap, dosing, crisis, ...

    def to_json(self) -> dict[str, Any]:
        """Exactly the public contract of `ask --json` and the /ask API."""
        return {
            "question": self.question,
            "status": self.status,
            "answer": self.answer,
            "sentences": [asdict(s) for s in self.sentences],
            "citations": [asdict(c) for c in self.citations],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


@dataclass
class _Candidate:
    hit: Hit
    start: int
    end: int
    text: str
    score: float


def sentence_text(hit: Hit, span: tuple[int, int]) -> str:
    return hit.chunk.text[span[0] - hit.chunk.start: span[1] - hit.chunk.start]


def _candidates(query_terms: set[str], hits: list[Hit], lexical: LexicalIndex, min_overlap: float) -> list[_Candidate]:
    weights = {t: lexical.idf(t) for t in query_terms}
    total = sum(weights.values()) or 1.0
    out: list[_Candidate] = []
    seen: set[str] = set()
    for hit in hits:
        rank_weight = 1.0 / (1.0 + 0.15 * (hit.rank - 1))
        for span in hit.chunk.sentences:
            text = sentence_text(hit, span)
            key = " ".join(text.lower().split())
            if key in seen or len(text.split()) < _MIN_SENTENCE_WORDS:
                continue
            seen.add(key)
            terms = set(tokenize(text))
            coverage = sum(w for t, w in weights.items() if t in terms) / total
            if coverage >= min_overlap:
                out.append(_Candidate(hit, span[0], span[1], text, coverage * rank_weight))
    return out


def _list_items(hit: Hit, after_end: int, limit: int = 8) -> list[tuple[int, int]]:
    """The sentences that follow a sentence ending in ':' (the list it introduces), within the passage."""
    spans = [s for s in hit.chunk.sentences if s[0] >= after_end]
    return spans[:limit]


def compose(question: str, retrieval_query: str, hits: list[Hit], index: PassageIndex, *,
            max_sentences: int = 4, answer_passages: int = 3, min_overlap: float = 0.2,
            today: dt.date | None = None) -> Answer:
    """Pick the best-matching sentences of the top passages, keep them verbatim, cite each one."""
    query_terms = set(tokenize(retrieval_query))
    top = hits[:answer_passages]
    cands = _candidates(query_terms, top, index.lexical, min_overlap) if query_terms else []
    if not cands:
        return Answer(question, NO_ANSWER, NO_ANSWER_MESSAGE, hits=hits, retrieval_query=retrieval_query, reason="no_overlap")
    best = max(c.score for c in cands)
    chosen = sorted(cands, key=lambda c: -c.score)
    chosen = [c for c in chosen if c.score >= 0.5 * best][:max_sentences]
    chosen.sort(key=lambda c: (c.hit.rank, c.start))
    numbers: dict[str, int] = {}
    sentences: list[AnswerSentence] = []
    quotes: dict[int, list[str]] = {}
    lines: list[str] = []
    for c in chosen:
        n = numbers.setdefault(c.hit.chunk.passage_id, len(numbers) + 1)
        sentences.append(AnswerSentence(c.text, n))
        quotes.setdefault(n, []).append(c.text)
        lines.append(f"{c.text} [{n}]")
        if c.text.rstrip().endswith(":"):
            for span in _list_items(c.hit, c.end):
                item = sentence_text(c.hit, span)
                if item in quotes[n]:
                    continue
                sentences.append(AnswerSentence(item, n))
                quotes[n].append(item)
                lines.append(f"\n- {item} [{n}]")
    citations = []
    by_pid = {h.chunk.passage_id: h for h in top}
    for pid, n in numbers.items():
        hit = by_pid[pid]
        info = index.docs[hit.chunk.doc_id]
        last, overdue = review_state(info.metadata, today)
        citations.append(Citation(n, hit.chunk.doc_id, info.title, info.url, hit.chunk.section, " … ".join(quotes[n]),
                                  pid, round(hit.dense, 4), last, overdue))
    text = re.sub(r" \n", "\n", " ".join(lines)).strip()
    return Answer(question, ANSWERED, text, sentences, citations, hits=hits, retrieval_query=retrieval_query)
