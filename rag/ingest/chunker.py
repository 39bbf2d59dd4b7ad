"""Chunks stage: section-aware passages of whole sentences that fit the embedding model's window."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .documents import Document

TokenCounter = Callable[[Sequence[str]], list[int]]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
# a sentence ends at . ! ? (optionally followed by a closing quote/bracket) before a capital, digit or quote;
# "stages.Signs" (no space, as in the PDQ source) also ends one
_BOUNDARY = re.compile(r"(?<=[.!?])[\"”’)\]]?(?:\s+(?=[A-Z0-9\"“‘(\[])|(?=[A-Z][a-z]))")
_ABBREV = {"dr", "mr", "mrs", "ms", "st", "vs", "e.g", "i.e", "u.s", "no", "fig", "inc", "al", "approx", "jr", "sr", "prof"}
_TITLE_NOISE = re.compile(r"\s*\((?:PDQ[®]?|[^)]*)\)|\s+[–-]\s+(?:Patient Version|NCI|National Cancer Institute)\b.*$", re.I)


@dataclass
class Chunk:
    passage_id: str
    doc_id: str
    title: str
    heading_path: list[str]  # ["# Title", "## Section", ...]
    text: str  # == document.text[start:end]
    start: int
    end: int
    sentences: list[tuple[int, int]]  # sentence spans, offsets into the document's text
    embed_text: str  # short heading prefix + ": " + sentences: what the model and BM25 see
    prefix: str = ""
    n_tokens: int = 0
    body_hash: str = ""  # same normalized text in two documents => same hash (boilerplate)

    @property
    def section(self) -> str:
        return " > ".join(self.heading_path)

    def body_sentence_spans(self) -> list[tuple[int, int]]:
        """Where each sentence lies in the body of `embed_text` (after "prefix: "), so the model's token
        embeddings of a passage can be pooled per sentence in the same forward pass."""
        spans, pos = [], 0
        for s, e in self.sentences:
            length = len(_collapse(self.text[s - self.start:e - self.start]))
            spans.append((pos, pos + length))
            pos += length + 1
        return spans


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int


@dataclass
class _Section:
    headings: list[str]
    sentences: list[Sentence] = field(default_factory=list)


def short_title(title: str) -> str:
    """'Adult ALL Treatment (PDQ®) – Patient Version' -> 'Adult ALL Treatment': keeps the prefix short."""
    return _TITLE_NOISE.sub("", title).strip() or title


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Sentence]:
    """Sentence spans inside text[start:end]; every line (list item, heading-like label) is at least one sentence."""
    end = len(text) if end is None else end
    spans: list[Sentence] = []
    pos = start
    for line in text[start:end].splitlines(keepends=True):
        line_start, line_end = pos, pos + len(line)
        pos = line_end
        body = line.rstrip()
        if not body.strip():
            continue
        bullet = _BULLET.match(body)
        s = line_start + (bullet.end() if bullet else len(body) - len(body.lstrip()))
        e = line_start + len(body)
        cursor = s
        for m in _BOUNDARY.finditer(text, s, e):
            cut = m.start() + len(m.group(0).rstrip()) if m.group(0).strip() else m.start()
            word = re.search(r"([\w.]+)[.!?]$", text[cursor:m.start()])
            if word and (word.group(1).lower().rstrip(".") in _ABBREV or (len(word.group(1)) == 1 and word.group(1).isupper())):
                continue
            if text[cursor:cut].strip():
                spans.append(Sentence(cursor, cut))
            cursor = m.end()
        if text[cursor:e].strip():
            spans.append(Sentence(cursor, e))
    return spans


def _sections(doc: Document) -> list[_Section]:
    sections: list[_Section] = []
    stack: list[tuple[int, str]] = []
    current = _Section([f"# {doc.title}"])
    pos = 0
    block_start = 0

    def flush(upto: int) -> None:
        current.sentences.extend(split_sentences(doc.text, block_start, upto))

    for line in doc.text.splitlines(keepends=True):
        m = _HEADING.match(line.rstrip("\n"))
        if m:
            flush(pos)
            if current.sentences:
                sections.append(current)
            level = len(m.group(1))
            stack = [(lv, h) for lv, h in stack if lv < level] + [(level, m.group(2))]
            headings = [f"{'#' * lv} {h}" for lv, h in stack]
            if stack[0][0] != 1:
                headings.insert(0, f"# {doc.title}")
            current = _Section(headings)
            block_start = pos + len(line)
        pos += len(line)
    flush(pos)
    if current.sentences:
        sections.append(current)
    return sections


def _prefix(doc: Document, headings: list[str]) -> str:
    parts = [short_title(doc.title)] + [h.lstrip("#").strip() for h in headings if not h.startswith("# ")]
    return " > ".join(parts)


def _split_long(doc: Document, sent: Sentence, count: TokenCounter, budget: int) -> list[Sentence]:
    """Last resort for a 'sentence' (often a flattened list) longer than a whole passage: cut at word gaps."""
    words = [m.span() for m in re.finditer(r"\S+", doc.text[sent.start:sent.end])]
    sizes = count([doc.text[sent.start + a:sent.start + b] for a, b in words])  # word-piece counts add up across spaces
    pieces: list[Sentence] = []
    i = 0
    while i < len(words):
        j, used = i, 0
        while j < len(words) and (j == i or used + sizes[j] <= budget):
            used += sizes[j]
            j += 1
        pieces.append(Sentence(sent.start + words[i][0], sent.start + words[j - 1][1]))
        i = j
    return pieces


def chunk_document(doc: Document, count: TokenCounter, max_tokens: int = 200, overlap_sentences: int = 1) -> list[Chunk]:
    """Pack whole sentences into passages of at most max_tokens (prefix and special tokens included)."""
    chunks: list[Chunk] = []
    seen_ids: dict[str, int] = {}
    for section in _sections(doc):
        prefix = _prefix(doc, section.headings)
        budget = max_tokens - count([prefix + ":"])[0] - 2  # [CLS] and [SEP]
        if budget < 16:
            budget = 16
        sentences: list[Sentence] = []
        sizes: list[int] = []
        for s, n in zip(section.sentences, count([doc.text[s.start:s.end] for s in section.sentences])):
            if n > budget:
                pieces = _split_long(doc, s, count, budget)
                sentences.extend(pieces)
                sizes.extend(count([doc.text[p.start:p.end] for p in pieces]))
            else:
                sentences.append(s)
                sizes.append(n)
        i = 0
        while i < len(sentences):
            j, used = i, 0
            while j < len(sentences) and used + sizes[j] <= budget:
                used += sizes[j]
                j += 1
            chunks.append(_make_chunk(doc, section.headings, prefix, sentences[i:j], used + max_tokens - budget, seen_ids))
            if j >= len(sentences):
                break
            back = min(overlap_sentences, j - i - 1)
            i = j - back if back > 0 else j
    return chunks


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _make_chunk(doc: Document, headings: list[str], prefix: str, sentences: list[Sentence], n_tokens: int,
                seen_ids: dict[str, int]) -> Chunk:
    start, end = sentences[0].start, sentences[-1].end
    text = doc.text[start:end]
    section = " > ".join(headings)
    digest = hashlib.sha1(f"{section}\n{text}".encode()).hexdigest()[:12]
    seen_ids[digest] = seen_ids.get(digest, 0) + 1
    pid = f"{doc.doc_id}#{digest}" + (f"-{seen_ids[digest]}" if seen_ids[digest] > 1 else "")
    normalized = re.sub(r"\s+", " ", text).strip().lower()
    return Chunk(
        passage_id=pid,
        doc_id=doc.doc_id,
        title=doc.title,
        heading_path=list(headings),
        text=text,
        start=start,
        end=end,
        sentences=[(s.start, s.end) for s in sentences],
        embed_text=f"{prefix}: " + " ".join(_collapse(doc.text[s.start:s.end]) for s in sentences),
        prefix=prefix,
        n_tokens=n_tokens,
        body_hash=hashlib.sha1(normalized.encode()).hexdigest()[:16],
    )
