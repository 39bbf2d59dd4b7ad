"""Answer stage: verbatim sentences from retrieved passages, each tied to a numbered citation."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..store.index import PassageIndex
from ..ingest.documents import review_state
from ..retrieval.lexical import term_groups, tokenize
from ..retrieval.retriever import Hit

ANSWERED, NO_ANSWER, URGENT = "answered", "no_answer", "urgent"

NO_ANSWER_MESSAGE = (
    "I'm sorry — my trusted sources don't cover this question, so I can't answer it. "
    "Please ask your doctor or care team; they can help with questions about your own situation."
)
_MIN_SENTENCE_WORDS = 4
_LEAD_BONUS = 0.25
_DEFINITION_BONUS = 0.5
_SECTION_BONUS = 0.5
_TOPIC_DISCOUNT = 0.9
_MAX_LISTS = 2
_WHAT_IS = re.compile(r"^\s*(?:what|who)(?:\s+(?:is|are|was|were)|'s|s|\s+(?:kind|type|sort) of \w+ (?:is|are))\b", re.I)
_FACT_BONUS = 0.5
_MONTH = r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
# a question asking for a value, and the kind of value a sentence must carry to answer it (checked in this order)
FACT_KINDS: tuple[tuple[str, re.Pattern, re.Pattern], ...] = (
    ("duration", re.compile(r"\bhow long\b|\bhow many (?:months|years|weeks|days)\b", re.I),
     re.compile(r"\b\d+(?:\.\d+)?\s*(?:months?|years?|weeks?|days?)\b", re.I)),
    ("date", re.compile(r"^\s*when\b|\bwhat (?:year|date|month)\b|\bwhen (?:did|was|were)\b", re.I),
     re.compile(rf"\b(?:(?:19|20)\d\d|{_MONTH})\b", re.I)),
    ("rate", re.compile(r"\bwhat (?:percent(?:age)?|share|proportion|fraction)\b|\bhow (?:common|often|likely)\b|"
                        r"\bwhat (?:are the )?(?:chances|odds|rates?)\b", re.I),
     re.compile(r"\d+(?:\.\d+)?\s*(?:%|percent)", re.I)),
    ("count", re.compile(r"\bhow many\b|\bhow much\b|\bnumber of\b", re.I), re.compile(r"\b\d[\d,.]*\b")),
)


def fact_kind(question: str) -> tuple[str, re.Pattern] | None:
    """'How many patients …' asks for a count; the answer is the sentence that carries one."""
    for name, asks, carries in FACT_KINDS:
        if asks.search(question):
            return name, carries
    return None
_ASPECT = re.compile(r"\b(?:for|of|in|after|during|with|from|about)\b", re.I)
_DEFINES = re.compile(r"^\W*([^.;:]{1,80}?)\s+(?:is|are)\s+(?:a|an|the|one|any|cancers?|diseases?|types?|groups?|drugs?)\b", re.I)


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
    reason: str = ""  # why no_answer/urgent: below_threshold, no_overlap, dosing, crisis, ...
    relevance: float | None = None  # best dense similarity among the answer passages (what the threshold cuts)
    lexical_coverage: float | None = None  # share of the question's weighted terms in the best passage
    safety: dict[str, Any] | None = None  # both safety layers' view: which decided (rule/classifier), scores
    language: str = "en"  # the language the patient wrote in (ISO 639-1), which the reply is in when it can be
    searched_for: str | None = None  # the question as searched, when spelling or short forms were changed
    answerability: dict[str, Any] | None = None  # the answerability model's signals, probability and cut (staff)

    def to_json(self) -> dict[str, Any]:
        """Exactly the public contract of `ask --json` and the /ask API."""
        return {
            "question": self.question,
            "status": self.status,
            "answer": self.answer,
            "sentences": [asdict(s) for s in self.sentences],
            "citations": [asdict(c) for c in self.citations],
            "searched_for": self.searched_for,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


@dataclass
class _Candidate:
    hit: Hit
    start: int
    end: int
    text: str
    score: float  # (words + meaning) x closeness of its passage x bonuses


def sentence_text(hit: Hit, span: tuple[int, int]) -> str:
    return hit.chunk.text[span[0] - hit.chunk.start: span[1] - hit.chunk.start]


_END = re.compile(r"[.!?:;\"']\s*$")


def is_bare_heading(text: str) -> bool:
    """A heading the source left as a line of its own ("Newly Diagnosed Childhood ALL (High Risk)"): no closing
    punctuation and mostly capitalised words. It names a section; it says nothing, so it is never quoted."""
    words = [w for w in text.split() if w[:1].isalpha()]
    if _END.search(text) or not words or len(words) > 14:
        return False
    return sum(w[0].isupper() for w in words) / len(words) >= 0.6


# capitalised function words, and the nouns health texts open sentences with: after a lowercase word (no
# punctuation between) one of these starts a new sentence, so the words before it are a heading run in.
# "A" is left out: "hepatitis A", "vitamin A" are names.
SENTENCE_STARTERS = frozenset({"It", "If", "The", "An", "In", "There", "This", "These", "Those", "Some", "Most",
                               "Many", "When", "Each", "Both", "Several",
                               "Studies", "Patients", "People", "Women", "Men", "Children", "Doctors"})
RUN_IN_MAX_WORDS = 4  # run-in headings found with a sentence starter in seeds/: 1 to 4 words


def run_in_heading_length(text: str) -> int:
    """Characters of a heading run into its paragraph by the source ("Stage I multiple myeloma In stage I multiple
    myeloma, ..."): a short unpunctuated lead that the sentence itself repeats after a capitalised word; a one-word
    lead only when repeated at once ("Surgery Surgery (removing the cancer...) is ..."); or a short lead followed by
    a capitalised function word that starts the sentence ("Diet It is not known if ..."). 0 if none."""
    words = text.split()
    for k in range(1, min(9, len(words) - 3)):
        head, nxt = words[:k], words[k]
        if any(w[-1] in ".,;:!?" for w in head) or not nxt[:1].isupper():
            continue
        rest = " ".join(words[k:]).lower()
        lead = " ".join(head).lower()
        if (rest.startswith(lead + " ") if k == 1 else lead in rest):
            return text.index(nxt, len(" ".join(head)))
    for k in range(1, min(RUN_IN_MAX_WORDS + 1, len(words) - 3)):  # "Diet It is not known if ..."
        head, nxt, after = words[:k], words[k], words[k + 1]
        if any(w[-1] in ".,;:!?)" for w in head) or not head[0][:1].isupper() \
                or any(not w[:1].islower() for w in head[1:]):
            break  # a longer lead would carry the same flaw
        if nxt in SENTENCE_STARTERS and after[:1].islower():
            return text.index(nxt, len(" ".join(head)))
    return 0


def is_definition_question(question: str) -> bool:
    """'What is thymoma?' asks for a definition; 'what is the outlook for thymoma?' asks for an aspect of it."""
    return bool(_WHAT_IS.match(question)) and not _ASPECT.search(re.sub(r"\b(?:kind|type|sort) of\b", "", question))


def _is_definition(sentence: str, groups: list[set[str]]) -> bool:
    """'Daratumumab is a monoclonal antibody ...': an asked-about term before 'is/are a/an/the/...'."""
    m = _DEFINES.match(sentence)
    subject = set(tokenize(m.group(1))) if m else set()
    return any(g & subject for g in groups)


def _candidates(question: str, hits: list[Hit], index: PassageIndex, min_overlap: float,
                definition: bool = False, fact: tuple[str, re.Pattern] | None = None,
                query_vector: np.ndarray | None = None, semantic_weight: float = 0.5) -> list[_Candidate]:
    lexical = index.lexical
    title_terms = [set(tokenize(h.chunk.title)) for h in hits]
    # one group per question word (with the document words for a lay word); words no passage contains (names,
    # e-mail addresses, typos) cannot pick a sentence, so they are left out here (they still count against the
    # lexical coverage that decides whether to answer at all)
    all_groups = term_groups(question)
    known = [(g, w) for g, w in zip(all_groups, lexical.group_weights(all_groups, known_only=True)) if w > 0]
    groups, idf = [g for g, _ in known], [w for _, w in known]
    idf_total = sum(idf) or 1.0
    # a word in the retrieved documents' titles is the topic ("leukemia"); the others ("symptoms") pick the sentence
    weights = [w * (1.0 - _TOPIC_DISCOUNT * sum(bool(g & t) for t in title_terms) / max(len(hits), 1))
               for g, w in zip(groups, idf)]
    total = sum(weights) or 1.0
    out: list[_Candidate] = []
    seen: set[str] = set()
    best_dense = max((h.dense for h in hits), default=1.0) or 1.0
    for hit in hits:
        rank_weight = (max(hit.dense, 0.0) / best_dense) ** 2  # closeness of the passage to the question
        # a section named for what is asked ("## Signs and symptoms"), not for the document's topic
        heading_terms = set(tokenize(" ".join(hit.chunk.heading_path[1:]))) - set(tokenize(hit.chunk.title))
        on_topic = sum(w for g, w in zip(groups, idf) if g & heading_terms) / idf_total
        own_title = set(tokenize(hit.chunk.title))
        # each sentence's closeness in meaning (its vector pooled in its passage, at index time)
        vectors = index.passage_sentence_vectors(hit.row)
        meaning = (vectors.astype(np.float32) @ query_vector
                   if query_vector is not None and len(vectors) == len(hit.chunk.sentences)
                   else np.zeros(len(hit.chunk.sentences)))
        for raw, sem in zip(hit.chunk.sentences, meaning):
            cleaned = quotable(hit, raw)
            if cleaned is None:
                continue
            span, text = cleaned
            key = " ".join(text.lower().split())
            if key in seen or len(text.split()) < _MIN_SENTENCE_WORDS:
                continue
            seen.add(key)
            terms = tokenize(text)
            term_set = set(terms)
            # the words of the passage's own document title (the topic, often abbreviated in its sentences: "ALL")
            # count as present: the sentence must match what is asked *about* the topic
            if sum(w for g, w in zip(groups, idf) if g & (term_set | own_title)) / idf_total >= min_overlap:
                coverage = sum(w for g, w in zip(groups, weights) if g & term_set) / total
                # a sentence whose subject is the asked-about term ("Daratumumab is ...") reads as the answer
                lead = set(terms[:2])
                bonus = 1.0 + _LEAD_BONUS * any(g & lead for g in groups) + _SECTION_BONUS * on_topic
                if definition and _is_definition(text, groups):
                    bonus += _DEFINITION_BONUS
                if fact and fact[1].search(text):  # carries the kind of value asked for
                    bonus += _FACT_BONUS
                # words and meaning: "live longer without the disease getting worse" finds "progression-free
                # survival"
                relevance = (1.0 - semantic_weight) * coverage + semantic_weight * max(float(sem), 0.0)
                out.append(_Candidate(hit, span[0], span[1], text, relevance * rank_weight * bonus))
    return out


def quotable(hit: Hit, span: tuple[int, int]) -> tuple[tuple[int, int], str] | None:
    """A sentence as it may be quoted: never a bare heading; after a heading the source ran into it (the quote
    then starts later in the same text, so it stays verbatim)."""
    text = sentence_text(hit, span)
    if is_bare_heading(text):
        return None
    cut = run_in_heading_length(text)
    return ((span[0] + cut, span[1]), text[cut:]) if cut else (span, text)


def _list_items(hit: Hit, after_end: int, limit: int = 8) -> list[str]:
    """The sentences that follow a sentence ending in ':' (the list it introduces), within the passage."""
    items = [quotable(hit, s) for s in hit.chunk.sentences if s[0] >= after_end]
    return [q[1] for q in items if q is not None][:limit]


def compose(question: str, retrieval_query: str, hits: list[Hit], index: PassageIndex, *,
            max_sentences: int = 4, answer_passages: int = 3, min_overlap: float = 0.2,
            today: dt.date | None = None, query_vector: np.ndarray | None = None,
            semantic_weight: float = 0.5, fact_sentences: int = 2) -> Answer:
    """Pick the best-matching sentences of the top passages, keep them verbatim, cite each one."""
    fact = fact_kind(question)
    top = hits[:answer_passages]
    cands = _candidates(retrieval_query, top, index, min_overlap, is_definition_question(question),
                        fact, query_vector, semantic_weight)
    if not cands:
        return Answer(question, NO_ANSWER, NO_ANSWER_MESSAGE, hits=hits, retrieval_query=retrieval_query, reason="no_overlap")
    best = max(c.score for c in cands)
    chosen = sorted(cands, key=lambda c: -c.score)
    if fact and fact[1].search(chosen[0].text):
        # a value was asked for and the best sentence holds one: that sentence, and a close second at most
        # (the one framing it); a broad question gets up to max_sentences
        max_sentences = min(max_sentences, fact_sentences)
    chosen = [c for c in chosen if c.score >= 0.5 * best][:max_sentences]
    # the best sentence of the document the question is about (retrieval's and the document choice's first)
    # leads, when that document has one good enough to quote; the rest follow in reading order, its passage first
    lead = next((c for c in chosen if c.hit.chunk.doc_id == top[0].chunk.doc_id), chosen[0])
    chosen = [lead] + sorted((c for c in chosen if c is not lead),
                             key=lambda c: (c.hit.rank != lead.hit.rank, c.hit.rank, c.start))
    chosen = [lead] + sorted(chosen[1:], key=lambda c: (c.hit.rank != lead.hit.rank, c.hit.rank, c.start))
    numbers: dict[str, int] = {}  # one number per source document, in order of first use
    quotes: dict[str, list[str]] = {}  # per cited passage, in order of first use
    sentences: list[AnswerSentence] = []
    parts: list[str] = []
    lists = 0
    for c in chosen:
        if any(c.text == s.text for s in sentences):  # already quoted as an item of a list above
            continue
        n = numbers.setdefault(c.hit.chunk.doc_id, len(numbers) + 1)
        pid = c.hit.chunk.passage_id
        sentences.append(AnswerSentence(c.text, n))
        quotes.setdefault(pid, []).append(c.text)
        part = f"{c.text} [{n}]"
        if c.text.rstrip().endswith(":") and lists < _MAX_LISTS:
            lists += 1
            for item in _list_items(c.hit, c.end):
                if item not in quotes[pid]:
                    sentences.append(AnswerSentence(item, n))
                    quotes[pid].append(item)
                    part += f"\n- {item} [{n}]"
            part += "\n"
        parts.append(part)
    citations = []
    by_pid = {h.chunk.passage_id: h for h in top}
    for pid, quoted in quotes.items():
        hit = by_pid[pid]
        info = index.docs[hit.chunk.doc_id]
        last, overdue = review_state(info.metadata, today)
        citations.append(Citation(numbers[hit.chunk.doc_id], hit.chunk.doc_id, info.title, info.url, hit.chunk.section,
                                  " … ".join(quoted), pid, round(hit.dense, 4), last, overdue))
    text = re.sub(r"\n +", "\n", " ".join(parts)).strip()
    return Answer(question, ANSWERED, text, sentences, citations, hits=hits, retrieval_query=retrieval_query)
