"""PDF -> markdown for the importer: PDFs carry no heading structure, so it is rebuilt from the outline
(bookmarks) when the author made one, else from font sizes and bold lines; lines are joined into paragraphs,
words hyphenated at a line end are mended, and page furniture (running headers, page numbers) is dropped."""
from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LAParams, LTChar, LTTextBox, LTTextLine
from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFNoOutlines
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1
from pdfminer.utils import decode_text

from ..errors import ConversionError

HEADING_SIZE_RATIO = 1.15  # a line this much larger than the body text is a heading
HEADING_MAX_CHARS = 150  # longer "headings" are emphasised paragraphs
MARGIN_BAND = 0.1  # top and bottom share of a page where running headers and page numbers live
MAX_HEADING_LEVEL = 6
BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi", re.I)
PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d+(?:\s*(?:of|/)\s*\d+)?$", re.I)
BULLET = re.compile(r"^(?:[•●▪◦‣∙·\-–*\uf0b7\uf0a7\uf076\uf0d8]|\(cid:\d+\))\s*(?=\S)")
NUMBERED = re.compile(r"^\d{1,2}[.)]\s+")
UNMAPPED_GLYPH = re.compile(r"\(cid:\d+\)")
SENTENCE_END = re.compile(r"[.!?:;\"”’)]$")
LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st",
                           "\u00ad": "", "\u00a0": " "})


@dataclass
class PdfText:
    title: str | None  # the document information /Title, if any
    cover_title: str | None  # the largest text on the first page, when larger than the body text
    markdown: str


@dataclass
class _Line:
    text: str
    size: float
    bold: bool
    page: int
    top: float  # 0 = top of the page, 1 = bottom


def pdf_to_markdown(path: Path) -> PdfText:
    """Convert one PDF; unreadable, encrypted and image-only files raise ConversionError saying what to do."""
    with path.open("rb") as fp:
        try:
            doc = PDFDocument(PDFParser(fp))
            blocks = _read_blocks(doc)
            outline = _outline(doc)
            title = _info_title(doc)
        except PDFEncryptionError:
            raise ConversionError(str(path), "encrypted PDF that needs a password: save an unencrypted copy "
                                             "(e.g. print it to PDF) and import that") from None
        except Exception as err:  # noqa: BLE001 - a damaged file may fail anywhere in the parser: one line, next file
            raise ConversionError(str(path), f"not a readable PDF ({type(err).__name__}): the file is damaged "
                                             "or not a PDF; export it again") from None
    lines = [line for block in blocks for line in block]
    if not any(line.text.strip() for line in lines):
        raise ConversionError(str(path), "no text layer (a scanned image?): run OCR first (e.g. ocrmypdf) and "
                                         "import the searchable PDF")
    furniture = _furniture(lines)
    blocks = [[ln for ln in block if id(ln) not in furniture] for block in blocks]
    levels = _heading_levels(lines, outline)
    return PdfText(title, _cover_title(lines), _assemble([b for b in blocks if b], levels, _vocabulary(lines)))


def _read_blocks(doc: PDFDocument) -> list[list[_Line]]:
    """Text boxes of every page (pdfminer's layout analysis groups lines into paragraphs), in reading order."""
    manager = PDFResourceManager()
    device = PDFPageAggregator(manager, laparams=LAParams())
    interpreter = PDFPageInterpreter(manager, device)
    blocks: list[list[_Line]] = []
    for number, page in enumerate(PDFPage.create_pages(doc)):
        interpreter.process_page(page)
        layout = device.get_result()
        for box in layout:
            if isinstance(box, LTTextBox):
                lines = [_line(ln, number, layout.y1 - layout.y0, layout.y1) for ln in box if isinstance(ln, LTTextLine)]
                blocks.append([ln for ln in lines if ln.text])
    return [b for b in blocks if b]


def _line(line: LTTextLine, page: int, height: float, page_top: float) -> _Line:
    chars = [c for c in line if isinstance(c, LTChar) and c.get_text().strip()]
    sizes = Counter(round(c.size, 1) for c in chars)
    bold = sum(1 for c in chars if BOLD_FONT.search(c.fontname)) > len(chars) / 2
    text = re.sub(r"\s+", " ", line.get_text().translate(LIGATURES)).strip()
    return _Line(text, sizes.most_common(1)[0][0] if sizes else 0.0, bold, page, (page_top - line.y1) / (height or 1))


def _info_title(doc: PDFDocument) -> str | None:
    for info in doc.info:
        raw = resolve1(info.get("Title"))
        if isinstance(raw, bytes):
            return decode_text(raw).strip() or None
        if isinstance(raw, str):
            return raw.strip() or None
    return None


def _outline(doc: PDFDocument) -> dict[str, int]:
    """Bookmark titles (normalized) -> heading level."""
    try:
        return {_key(title): min(level, MAX_HEADING_LEVEL) for level, title, *_ in doc.get_outlines()}
    except PDFNoOutlines:
        return {}


def _key(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()


def _furniture(lines: list[_Line]) -> set[int]:
    """Page furniture in the top and bottom margins: page numbers, running headers/footers (same text, digits
    aside, on several pages) and small print (smaller than the body text, as on a one-page leaflet)."""
    body = _body_size(lines)
    in_margin = [ln for ln in lines if ln.top < MARGIN_BAND or ln.top > 1 - MARGIN_BAND]
    pages: dict[str, set[int]] = {}
    for ln in in_margin:
        pages.setdefault(re.sub(r"\d+", "#", _key(ln.text)), set()).add(ln.page)
    return {id(ln) for ln in in_margin
            if PAGE_NUMBER.match(ln.text) or ln.size < body or len(pages[re.sub(r"\d+", "#", _key(ln.text))]) > 1}


def _heading_levels(lines: list[_Line], outline: dict[str, int]) -> dict[int, int]:
    """id(line) -> heading level: from the outline when its titles are found in the text, else from fonts."""
    if outline:
        found = {id(ln): outline[_key(ln.text)] for ln in lines if _key(ln.text) in outline}
        if found:
            return found
    body = _body_size(lines)
    candidates = [ln for ln in lines if len(ln.text) <= HEADING_MAX_CHARS and not PAGE_NUMBER.match(ln.text)]
    sizes = sorted({ln.size for ln in candidates if ln.size >= body * HEADING_SIZE_RATIO}, reverse=True)
    sizes = sizes[:MAX_HEADING_LEVEL - 1]
    rank = {size: i + 1 for i, size in enumerate(sizes)}
    bold_level = max(len(sizes) + 1, 2)  # a bold body-size line is a section heading, never the document's title
    levels: dict[int, int] = {}
    for ln in candidates:
        if ln.size in rank:
            levels[id(ln)] = rank[ln.size]
        elif ln.bold and ln.size >= body and not re.search(r"[.,;]$", ln.text) and not BULLET.match(ln.text):
            levels[id(ln)] = bold_level
    return levels


def _body_size(lines: list[_Line]) -> float:
    weights: Counter[float] = Counter()
    for ln in lines:
        weights[ln.size] += len(ln.text)
    return weights.most_common(1)[0][0]


def _cover_title(lines: list[_Line]) -> str | None:
    """The first page's largest line (and the lines of that size right after it: a title set on two lines)."""
    first_page = [ln for ln in lines if ln.page == 0 and not PAGE_NUMBER.match(ln.text)]
    if not first_page:
        return None
    largest = max(ln.size for ln in first_page)
    if largest < _body_size(lines) * HEADING_SIZE_RATIO:
        return None
    start = next(i for i, ln in enumerate(first_page) if ln.size == largest)
    parts = [ln.text for ln in itertools.takewhile(lambda ln: ln.size == largest, first_page[start:])]
    return " ".join(parts)[:HEADING_MAX_CHARS]


def _vocabulary(lines: list[_Line]) -> set[str]:
    """Words as the document spells them elsewhere: decides between 'chemo-|therapy' and 'follow-|up'."""
    return {w.lower() for ln in lines for w in re.findall(r"\w+(?:-\w+)*", ln.text)}


def _assemble(blocks: list[list[_Line]], levels: dict[int, int], vocabulary: set[str]) -> str:
    """Markdown: headings as '#' lines, paragraphs and list items joined from their lines."""
    out: list[tuple[str, str]] = []  # (kind, text) of paragraphs, lists and headings
    for block in blocks:
        for kind, text in _block_parts(block, levels, vocabulary):
            if kind == "p" and out and out[-1][0] == "p" and _continues(out[-1][1], text):
                out[-1] = ("p", _join(out[-1][1], text, vocabulary))  # a paragraph cut by a page or column break
            else:
                out.append((kind, text))
    return "\n\n".join(_markdown_part(kind, UNMAPPED_GLYPH.sub("", text).strip()) for kind, text in out) + "\n"


def _markdown_part(kind: str, text: str) -> str:
    """Text that begins with '#' (a comment in a code sample) must not become a heading."""
    return "\\" + text if kind != "h" and text.startswith("#") else text


def _block_parts(block: list[_Line], levels: dict[int, int], vocabulary: set[str]) -> list[tuple[str, str]]:
    """('h', '## Heading'), ('p', 'paragraph text') or ('list', '- item\\n- item') parts of one text box."""
    parts: list[tuple[str, str]] = []
    for line in block:
        level = levels.get(id(line))
        previous = parts[-1] if parts else None
        if level:
            if previous and previous[0] == f"h{level}":  # a heading wrapped over two lines
                parts[-1] = (previous[0], previous[1] + " " + line.text)
            else:
                parts.append((f"h{level}", line.text))
        elif BULLET.match(line.text) or NUMBERED.match(line.text):
            item = BULLET.sub("", line.text) if BULLET.match(line.text) else line.text
            marker = "- " if BULLET.match(line.text) else ""
            parts.append(("item", marker + item))
        elif previous and previous[0] in ("p", "item"):
            parts[-1] = (previous[0], _join(previous[1], line.text, vocabulary))
        else:
            parts.append(("p", line.text))
    return _merge_items([(kind if not kind.startswith("h") else "h", _heading(kind, text)) for kind, text in parts])


def _heading(kind: str, text: str) -> str:
    return f"{'#' * int(kind[1:])} {text}" if kind.startswith("h") else text


def _merge_items(parts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive list items stay one markdown list (no blank lines between them)."""
    merged: list[tuple[str, str]] = []
    for kind, text in parts:
        if kind == "item" and merged and merged[-1][0] == "list":
            merged[-1] = ("list", merged[-1][1] + "\n" + text)
        else:
            merged.append(("list" if kind == "item" else kind, text))
    return merged


def _continues(previous: str, text: str) -> bool:
    return not SENTENCE_END.search(previous) and text[:1].islower()


def _join(left: str, right: str, vocabulary: set[str]) -> str:
    """Join two lines of one paragraph, mending a word hyphenated at the line end."""
    m = re.search(r"(\w+)-$", left)
    if m and right[:1].islower():
        head = m.group(1)
        tail = re.match(r"\w+", right)
        tail_word = tail.group(0) if tail else ""
        hyphenated = f"{head}-{tail_word}".lower()
        if hyphenated in vocabulary and (head + tail_word).lower() not in vocabulary:
            return left + right  # a real compound ('follow-up') that happened to break at its hyphen
        return left[:-1] + right
    return f"{left} {right}"
