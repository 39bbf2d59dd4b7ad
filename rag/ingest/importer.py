"""Import a clinic's own leaflets (PDF, DOCX, HTML) into the knowledge-base format: markdown with YAML front
matter, headings kept as '#' lines so the chunker sees the sections (README: importing a clinic's leaflets)."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlparse

import yaml

from .documents import REVIEW_DAYS
from ..errors import ConfigError, ConversionError
from ..store.files import atomic_write

HTML_SUFFIXES = (".html", ".htm", ".xhtml")
SUFFIXES = (".pdf", ".docx") + HTML_SUFFIXES
CONVERT_FIRST = {  # formats people have that the importer does not read, and what to do with them
    ".doc": "save it as .docx (Word: File > Save As) or PDF",
    ".odt": "save it as .docx or PDF",
    ".rtf": "save it as .docx or PDF",
    ".pages": "export it as .docx or PDF",
    ".txt": "add YAML front matter and copy it into the documents folder as it is",
    ".md": "add YAML front matter and copy it into the documents folder as it is",
}
SLUG_MAX_CHARS = 80
# metadata titles that name the software or the file, not the leaflet
PLACEHOLDER_TITLE = re.compile(r"^(?:untitled|anonymous|document\d*|microsoft \w+ - .*|.*\.(?:docx?|pdf|html?|odt|rtf|indd))$", re.I)
DOCX_CORE_TITLE = "{http://purl.org/dc/elements/1.1/}title"
# mammoth maps Word's "Heading N" styles itself; the "Title" style is a heading too
DOCX_STYLE_MAP = "p[style-name='Title'] => h1:fresh\np[style-name='Subtitle'] => p:fresh"
# page chrome of a saved web page: never leaflet content
CHROME_TAGS = ["script", "style", "noscript", "template", "nav", "aside", "form", "button", "iframe", "svg", "select"]
CHROME_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary"}
CHROME_HINT = re.compile(r"cookie|consent|breadcrumb|skip-?link|share|social", re.I)
INLINE_MARKUP = ["img", "b", "strong", "i", "em", "u", "span", "small", "mark", "font"]  # kept as plain text
TABLE_PAIR_JOIN, TABLE_CELL_JOIN = ": ", "; "  # a table row becomes one list item: "Symptom: What to do"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIRST_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


@dataclass
class LeafletMetadata:
    """Front-matter values given on the command line, the same for every file of one import."""
    url: str = ""
    source: str = ""
    audience: str = "patient"
    cancer_types: list[str] = field(default_factory=lambda: ["general"])
    language: str = "en"
    last_reviewed: str | None = None
    review_frequency: str | None = None
    license: str = "all rights reserved"
    source_type: str = "clinic leaflet"
    version: str = "v1"
    tags: list[str] = field(default_factory=lambda: ["clinic-leaflet"])

    def validate(self) -> "LeafletMetadata":
        """Flag values the index or the app would silently misread are refused before any file is written."""
        if self.url and not _is_web_address(self.url):
            raise ConfigError(f"--url: expected an http(s) address such as https://clinic.example/leaflets/x, got {self.url!r}")
        if self.last_reviewed is not None and not _is_iso_date(self.last_reviewed):
            raise ConfigError(f"--last-reviewed: expected a date YYYY-MM-DD, got {self.last_reviewed!r}")
        if self.review_frequency is not None and self.review_frequency.strip().lower() not in REVIEW_DAYS:
            raise ConfigError(f"--review-frequency: expected one of {', '.join(REVIEW_DAYS)}, got {self.review_frequency!r}")
        return self


@dataclass
class Converted:
    """What a format's converter found in one file."""
    markdown: str
    title: str | None = None  # from the file's metadata (PDF /Title, DOCX core title, HTML og:title/<title>)
    cover_title: str | None = None  # PDF: the first page's largest text, when the metadata has no title
    url: str | None = None  # the page's own address (HTML canonical link / og:url)
    site_name: str | None = None  # HTML og:site_name


@dataclass
class ImportedDocument:
    path: Path  # the file it came from
    front_matter: dict[str, Any]
    body: str  # markdown

    @property
    def title(self) -> str:
        return self.front_matter["title"]

    def to_text(self) -> str:
        """The knowledge-base file: the same front-matter layout as seeds/ (keys sorted)."""
        front = yaml.safe_dump(self.front_matter, sort_keys=True, allow_unicode=True, width=1000)
        return f"---\n{front}---\n\n{self.body.strip()}\n"


@dataclass
class ImportReport:
    written: list[tuple[Path, Path]] = field(default_factory=list)  # (input, knowledge-base file)
    failed: list[ConversionError] = field(default_factory=list)


@dataclass
class ImportLimits:
    """Sizes the importer refuses, by name (Config.import_max_file_bytes and Config.max_file_bytes)."""
    max_input_bytes: int | None = None  # a leaflet larger than this is not parsed (time and memory)
    max_output_bytes: int | None = None  # the index skips knowledge-base files larger than this


def import_files(paths: Iterable[Path], out_dir: Path, metadata: LeafletMetadata, force: bool = False,
                 on_result: Callable[[Path, Path | ConversionError], None] | None = None,
                 limits: ImportLimits = ImportLimits()) -> ImportReport:
    """Import each file on its own: one that fails is reported and the others still import."""
    report = ImportReport()
    written_by: dict[Path, Path] = {}
    for path in paths:
        try:
            doc = import_file(path, metadata, limits)
            target = output_path(doc, out_dir)
            if target in written_by:
                raise ConversionError(str(path), f"same output name {target} as {written_by[target]} in this import: "
                                                 "give the documents different titles, or import them one at a time")
            write_document(doc, target, force)
        except ConversionError as err:
            report.failed.append(err)
            if on_result:
                on_result(path, err)
            continue
        written_by[target] = path
        report.written.append((path, target))
        if on_result:
            on_result(path, target)
    return report


def import_file(path: Path, metadata: LeafletMetadata, limits: ImportLimits = ImportLimits()) -> ImportedDocument:
    size = path.stat().st_size if path.is_file() else 0
    if limits.max_input_bytes is not None and size > limits.max_input_bytes:
        raise ConversionError(str(path), f"{size:,} bytes, over the import limit of {limits.max_input_bytes:,} bytes "
                                         "(RAG_IMPORT_MAX_FILE_BYTES): split the document, or raise the limit")
    converted = convert_file(path)
    body = _tidy(converted.markdown)
    if not re.search(r"\w", body):
        raise ConversionError(str(path), "no text found in the document: check that it is the right file")
    title = _title(converted, body, path)
    doc = ImportedDocument(path, front_matter(title, metadata, converted), body)
    written = len(doc.to_text().encode("utf-8"))
    if limits.max_output_bytes is not None and written > limits.max_output_bytes:
        raise ConversionError(str(path), f"its text is {written:,} bytes, over the index's limit of "
                                         f"{limits.max_output_bytes:,} bytes per document (RAG_MAX_FILE_BYTES), so "
                                         "it would be skipped: split the document")
    return doc


def convert_file(path: Path) -> Converted:
    """Dispatch on the file's extension; every failure is a ConversionError naming the file and what to do."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        hint = CONVERT_FIRST.get(suffix, "convert it to PDF, DOCX or HTML first")
        raise ConversionError(str(path), f"unsupported file type {suffix or '(no extension)'!r} "
                                         f"(the importer reads {', '.join(SUFFIXES)}): {hint}")
    if not path.is_file():
        raise ConversionError(str(path), "file not found")
    if suffix == ".pdf":
        from .pdf_markdown import pdf_to_markdown

        pdf = pdf_to_markdown(path)
        return Converted(pdf.markdown, pdf.title, cover_title=pdf.cover_title)
    if suffix == ".docx":
        return docx_to_markdown(path)
    return html_to_markdown(_read_html(path), path)


def docx_to_markdown(path: Path) -> Converted:
    """Word styles (Heading 1, 2, lists, tables) become HTML through mammoth, then markdown as a web page does."""
    import mammoth

    try:
        with zipfile.ZipFile(path) as archive:
            title = _docx_title(archive)
        with path.open("rb") as fh:
            html = mammoth.convert_to_html(fh, style_map=DOCX_STYLE_MAP).value
    except Exception:  # noqa: BLE001 - a damaged file may fail anywhere in the parser: one line, next file
        raise ConversionError(str(path), "not a readable Word .docx file (damaged, or another format renamed "
                                         ".docx): open it in Word and save it again as .docx") from None
    converted = html_to_markdown(html, path)
    return Converted(converted.markdown, title)


def _docx_title(archive: zipfile.ZipFile) -> str | None:
    try:
        core = archive.read("docProps/core.xml")
    except KeyError:
        return None
    node = ET.fromstring(core).find(DOCX_CORE_TITLE)
    return node.text.strip() if node is not None and node.text and node.text.strip() else None


def _read_html(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        from bs4.dammit import UnicodeDammit  # a saved page declares or implies its own encoding

        return UnicodeDammit(raw).unicode_markup or ""


def html_to_markdown(html: str, path: Path) -> Converted:
    """The page's main content as markdown: navigation, banners, footers and scripts dropped."""
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(html, "html.parser")
    meta = _html_meta(soup)
    root = _main_content(soup)
    _drop_chrome(root)
    _tables_to_lists(soup, root)
    _unwrap_local_links(root)
    markdown = MarkdownConverter(heading_style="ATX", bullets="-", strip=INLINE_MARKUP,
                                 escape_asterisks=False, escape_underscores=False).convert_soup(root)
    if not re.search(r"\w", markdown):
        raise ConversionError(str(path), "no text in the page's main content (empty, or built by scripts): "
                                         "save the page after it has loaded, or print it to PDF")
    return Converted(markdown, **meta)


def _html_meta(soup) -> dict[str, str | None]:
    def meta(prop: str) -> str | None:
        tag = soup.find("meta", attrs={"property": prop}) or soup.find("meta", attrs={"name": prop})
        return (tag.get("content", "").strip() or None) if tag else None

    title = meta("og:title")
    if not title and soup.title and soup.title.string:
        title = soup.title.string.split(" | ")[0].strip() or None  # "Leaflet | Site name"
    canonical = soup.find("link", rel="canonical")
    url = (canonical.get("href") if canonical else None) or meta("og:url")
    return {"title": title, "url": url if url and _is_web_address(url) else None, "site_name": meta("og:site_name")}


def _main_content(soup):
    """The one article, else <main>, else the body: where a saved page keeps its content."""
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0]
    return soup.find("main") or soup.find(attrs={"role": "main"}) or soup.body or soup


def _drop_chrome(root) -> None:
    for tag in root.find_all(CHROME_TAGS):
        tag.decompose()
    for tag in root.find_all(["header", "footer"]):
        if not tag.decomposed and not tag.find("h1"):  # an article's own header holds its title
            tag.decompose()
    for tag in root.find_all(True):
        if tag.decomposed or tag.attrs is None:
            continue
        hint = " ".join([tag.get("id") or "", *(tag.get("class") or [])])
        if tag.get("role") in CHROME_ROLES or CHROME_HINT.search(hint):
            tag.decompose()


def _tables_to_lists(soup, root) -> None:
    """A table row becomes one list item, so each row is a quotable sentence rather than a line of pipes."""
    for table in root.find_all("table"):
        if table.decomposed:
            continue
        items = soup.new_tag("ul")
        for row in table.find_all("tr"):
            cells = [c.get_text(" ", strip=True) for c in row.find_all(["th", "td"])]
            cells = [c for c in cells if c]
            if cells:
                item = soup.new_tag("li")
                item.string = (TABLE_PAIR_JOIN if len(cells) == 2 else TABLE_CELL_JOIN).join(cells)
                items.append(item)
        table.replace_with(items)


def _unwrap_local_links(root) -> None:
    """In-page anchors and script links lead nowhere a patient can follow: keep their text only."""
    for link in root.find_all("a"):
        href = (link.get("href") or "").strip().lower()
        if not href or href.startswith(("#", "javascript:")):
            link.unwrap()


def front_matter(title: str, metadata: LeafletMetadata, converted: Converted) -> dict[str, Any]:
    """The seeds' front-matter fields; values unknown and not given are left out rather than invented."""
    source = metadata.source or converted.site_name or ""
    front: dict[str, Any] = {
        "title": title,
        "url": metadata.url or converted.url or "",
        "source": source,
        "sourceType": metadata.source_type,
        "audienceLevel": metadata.audience,
        "cancerTypes": list(metadata.cancer_types),
        "language": metadata.language,
        "license": metadata.license,
        "status": "active",
        "citation": _citation(title, source, metadata.last_reviewed),
        "tags": list(metadata.tags),
        "version": metadata.version,
    }
    if metadata.last_reviewed:
        front["lastReviewed"] = metadata.last_reviewed
    if metadata.review_frequency:
        front["reviewFrequency"] = metadata.review_frequency.strip().lower()
    return front


def _citation(title: str, source: str, last_reviewed: str | None) -> str:
    year = f", {last_reviewed[:4]}" if last_reviewed else ""
    return f"{source}: {title}{year}" if source else f"{title}{year}"


def _title(converted: Converted, body: str, path: Path) -> str:
    """Metadata title unless it is a placeholder, else a PDF's cover title, else the first heading, else the
    file name."""
    if converted.title and not PLACEHOLDER_TITLE.match(converted.title.strip()):
        return converted.title.strip()
    if converted.cover_title:
        return converted.cover_title
    heading = FIRST_HEADING.search(body)
    if heading:
        return heading.group(1)
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def _tidy(markdown: str) -> str:
    lines = [line.rstrip() for line in markdown.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > SLUG_MAX_CHARS:
        slug = slug[:SLUG_MAX_CHARS].rsplit("-", 1)[0]
    return slug


def output_path(doc: ImportedDocument, out_dir: Path) -> Path:
    """<slug of the title>.md (the slug is also the document id the index and citations use)."""
    return out_dir / f"{slugify(doc.title) or slugify(doc.path.stem) or 'document'}.md"


def write_document(doc: ImportedDocument, target: Path, force: bool = False) -> Path:
    """Atomically (temp file + rename); an existing file is kept unless force."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConversionError(str(doc.path), f"cannot create the folder {target.parent}: {err.strerror or err}") from None
    try:
        atomic_write(target, doc.to_text(), overwrite=force)
    except FileExistsError:
        raise ConversionError(str(doc.path), f"{target} already exists: not overwritten (use --force to replace it)") from None
    except OSError as err:
        raise ConversionError(str(doc.path), f"cannot write {target}: {err.strerror or err}") from None
    return target


def _is_iso_date(text: str) -> bool:
    try:
        return bool(ISO_DATE.match(text)) and bool(dt.date.fromisoformat(text))
    except ValueError:  # 2025-13-01
        return False


def _is_web_address(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)
