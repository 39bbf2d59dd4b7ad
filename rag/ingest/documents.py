"""Documents stage: read markdown knowledge-base files with YAML front matter into clean, citable text."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urljoin

import frontmatter
import yaml

from ..errors import DocumentError, NoDocumentsError

DOC_SUFFIXES = (".md", ".markdown", ".txt")

# [text](url "optional title") and ![alt](src): the text stays, the target is kept aside for display
_LINK = re.compile(r"(!?)\[([^\[\]]*)\]\(\s*<?([^()\s<>]*(?:\([^()\s]*\)[^()\s<>]*)*)>?(?:\s+\"[^\"]*\")?\s*\)")

REVIEW_DAYS = {
    "daily": 1, "weekly": 7, "biweekly": 14, "monthly": 31, "quarterly": 92,
    "semiannually": 183, "semiannual": 183, "biannually": 183, "half-yearly": 183,
    "annually": 366, "annual": 366, "yearly": 366, "biennially": 731,
}


@dataclass(frozen=True)
class Link:
    text: str
    url: str  # absolute when the document has a url
    start: int  # offsets of the link text in Document.text
    end: int


@dataclass
class Document:
    doc_id: str
    path: str
    title: str
    url: str
    metadata: dict[str, Any]
    text: str  # the body with link syntax stripped: what is chunked, embedded, quoted and highlighted
    links: list[Link] = field(default_factory=list)
    content_hash: str = ""


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class LoadResult:
    documents: list[Document]
    skipped: list[Skipped]


def iter_document_paths(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in DOC_SUFFIXES and not any(p.startswith(".") for p in path.relative_to(folder).parts):
            yield path


def load_documents(folder: Path | str, max_file_bytes: int = 5_000_000) -> LoadResult:
    """Load every document under folder; bad files are skipped with a reason, never fatal one by one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NoDocumentsError(f"{folder}: documents folder not found (use --docs DIR)")
    documents: list[Document] = []
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    for path in iter_document_paths(folder):
        try:
            doc = load_document(path, max_file_bytes)
        except DocumentError as err:
            skipped.append(Skipped(str(path), err.problem))
            continue
        status = str(doc.metadata.get("status", "active")).strip().lower()
        if status != "active":
            skipped.append(Skipped(str(path), f"status is {status!r}, not 'active' (not indexed)"))
            continue
        if doc.doc_id in seen:
            skipped.append(Skipped(str(path), f"duplicate document id {doc.doc_id!r} (already loaded from {seen[doc.doc_id]})"))
            continue
        seen[doc.doc_id] = str(path)
        documents.append(doc)
    if not documents and not skipped:
        raise NoDocumentsError(f"{folder}: no documents found (expected {', '.join(DOC_SUFFIXES)} files with YAML front matter)")
    return LoadResult(documents, skipped)


def load_document(path: Path, max_file_bytes: int = 5_000_000) -> Document:
    size = path.stat().st_size
    if size > max_file_bytes:
        raise DocumentError(str(path), f"file is {size / 1e6:.1f} MB, over the {max_file_bytes / 1e6:g} MB limit (RAG_MAX_FILE_BYTES)")
    raw = path.read_bytes()
    try:
        source = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DocumentError(str(path), f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); save the file as UTF-8") from None
    try:
        post = frontmatter.loads(source)
    except yaml.YAMLError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DocumentError(str(path), f"invalid YAML front matter: {first}") from None
    metadata = {k: _json_safe(v) for k, v in post.metadata.items()}
    title = metadata.get("title")
    if not isinstance(title, str) or not title.strip():
        raise DocumentError(str(path), "front matter has no 'title'")
    if not post.content.strip():
        raise DocumentError(str(path), "document body is empty")
    url = str(metadata.get("url") or "")
    text, links = strip_links(post.content.strip(), url)
    return Document(
        doc_id=path.stem,
        path=str(path),
        title=title.strip(),
        url=url,
        metadata=metadata,
        text=text,
        links=links,
        content_hash=hashlib.sha256(raw).hexdigest(),
    )


def strip_links(markdown: str, base_url: str = "") -> tuple[str, list[Link]]:
    """Replace link syntax by its text; return the links with absolute targets and their offsets."""
    out: list[str] = []
    links: list[Link] = []
    pos = 0
    length = 0
    for m in _LINK.finditer(markdown):
        before = markdown[pos:m.start()]
        out.append(before)
        length += len(before)
        text, target = m.group(2), m.group(3)
        out.append(text)
        if target and not m.group(1):
            links.append(Link(text, urljoin(base_url, target) if base_url else target, length, length + len(text)))
        length += len(text)
        pos = m.end()
    out.append(markdown[pos:])
    return "".join(out), links


def review_due(metadata: dict[str, Any]) -> dt.date | None:
    """The day the next review falls due (lastReviewed + reviewFrequency); None when either is missing or unreadable."""
    last = metadata.get("lastReviewed")
    days = REVIEW_DAYS.get(str(metadata.get("reviewFrequency", "")).strip().lower())
    if not last or days is None:
        return None
    try:
        return dt.date.fromisoformat(str(last)[:10]) + dt.timedelta(days=days)
    except ValueError:
        return None


def review_state(metadata: dict[str, Any], today: dt.date | None = None) -> tuple[str | None, bool | None]:
    """(lastReviewed, overdue): overdue is None when the date or the frequency is unknown."""
    last = metadata.get("lastReviewed")
    due = review_due(metadata)
    return (str(last) if last else None), (None if due is None else (today or dt.date.today()) > due)


@dataclass(frozen=True)
class OverdueReview:
    """A document whose review date has passed, as `rag index` warns about it."""
    path: str
    last_reviewed: str
    review_frequency: str
    due: str  # the day the review fell due, YYYY-MM-DD


def overdue_reviews(documents: list[Document], today: dt.date) -> list[OverdueReview]:
    out = []
    for doc in documents:
        due = review_due(doc.metadata)
        if due is not None and today > due:
            out.append(OverdueReview(doc.path, str(doc.metadata["lastReviewed"]),
                                     str(doc.metadata["reviewFrequency"]), due.isoformat()))
    return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
