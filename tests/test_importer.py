"""`python -m rag import`: a clinic's PDF, DOCX and HTML leaflets become knowledge-base markdown files whose
headings are sections, whose front matter the index reads, and whose sentences the bot then quotes."""
from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from rag import Engine, build_index
from rag.cli import main
from rag.ingest.documents import load_document, review_state
from rag.ingest.importer import LeafletMetadata, import_file

# reportlab ships the Bitstream Vera fonts: embedded TrueType, as in PDFs exported from Word or InDesign
pdfmetrics.registerFont(TTFont("Vera", "Vera.ttf"))
pdfmetrics.registerFont(TTFont("VeraBd", "VeraBd.ttf"))
FONTS = {"h1": ("VeraBd", 20), "h2": ("VeraBd", 14), "bold": ("VeraBd", 10.5), "p": ("Vera", 10.5)}
HEADER = "Riverside Cancer Centre - Patient information"

FATIGUE = [  # lines as laid out on the page: "chemo-|therapy" is typographic hyphenation, "follow-|up" a compound
    ("h1", "Managing Fatigue During Chemotherapy"),
    ("p", "Fatigue is the most common side effect of chemo-\ntherapy. Many people describe it as a tiredness that\n"
          "does not go away with rest or sleep."),
    ("h2", "Why chemotherapy causes fatigue"),
    ("p", "Chemotherapy lowers the number of red blood cells that carry\noxygen around the body. Book a follow-up "
          "visit if\nyou are unsure, and bring your questions to the follow-\nup visit."),
    ("h2", "Things that can help"),
    ("p", "• Take a short walk every day.\n• Ask family and friends to help with shopping and house-\nwork."),
    ("page", ""),
    ("h2", "When to contact your care team"),
    ("p", "Call the 24-hour advice line if you feel too tired to get out\nof bed or have a temperature of 38°C or above."),
]


def make_pdf(path: Path, blocks, title: str | None = None, outline: bool = False, fonts=FONTS) -> Path:
    """A leaflet laid out line by line, with a running header and page numbers on every page."""
    c = canvas.Canvas(str(path), pagesize=A4)
    if title:
        c.setTitle(title)
    width, height = A4
    page, y = 1, height - 80

    def furniture() -> None:
        c.setFont("Vera", 8)
        c.drawString(60, height - 40, HEADER)
        c.drawString(width / 2, 30, f"Page {page}")

    furniture()
    for i, (kind, text) in enumerate(blocks):
        if kind == "page":
            c.showPage()
            page, y = page + 1, height - 80
            furniture()
            continue
        if outline and kind != "p":
            c.bookmarkPage(f"b{i}")
            c.addOutlineEntry(text, f"b{i}", level=0 if kind == "h1" else 1)
        font, size = fonts[kind]
        c.setFont(font, size)
        for line in text.split("\n"):
            c.drawString(60, y, line)
            y -= size * 1.35
        y -= 10
    c.save()
    return path


def make_docx(path: Path, title: str | None = "Looking After Your Mouth During Radiotherapy") -> Path:
    d = docx.Document()
    if title:
        d.core_properties.title = title
    d.sections[0].header.paragraphs[0].text = "Riverside Cancer Centre"
    d.sections[0].footer.paragraphs[0].text = "Leaflet RCC-112, version 3"
    d.add_heading("Mouth care during radiotherapy", 1)
    d.add_paragraph("Radiotherapy to the head and neck can make your mouth sore and dry.")
    d.add_heading("Daily mouth care", 2)
    d.add_paragraph("Rinse your mouth with salt water four times a day to keep it clean and comfortable.")
    for item in ["Use a soft toothbrush.", "Avoid mouthwashes that contain alcohol."]:
        d.add_paragraph(item, style="List Bullet")
    d.add_heading("When to get help", 2)
    table = d.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("Symptom", "What to do"), ("You cannot swallow fluids", "Call the advice line now.")]):
        row.cells[0].text, row.cells[1].text = cells
    d.save(str(path))
    return path


EATING_HTML = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Eating well | Riverside Cancer Centre</title>
<meta property="og:title" content="Eating Well During Cancer Treatment">
<meta property="og:site_name" content="Riverside Cancer Centre">
<link rel="canonical" href="https://riverside.example/leaflets/eating-well">
<script>var tracking = "pageview";</script><style>body{color:#222}</style></head><body>
<div class="cookie-banner">We use cookies to improve your experience.</div>
<header><nav><a href="/">Home</a> <a href="/services">Our services</a></nav></header>
<main><article>
<h1>Eating Well During Cancer Treatment</h1>
<p>Cancer and its treatment can change your appetite and your sense of taste.</p>
<h2>If you have lost your appetite</h2>
<p>Eat small meals or snacks every two to three hours instead of three large meals.</p>
<ul><li>Drink between meals rather than with them.</li></ul>
<h2>If food tastes different</h2>
<p>Using plastic cutlery and adding herbs or lemon may help when food tastes metallic.</p>
</article><aside><h2>Related pages</h2><a href="/fatigue">Fatigue</a></aside></main>
<footer><p>&copy; 2025 Riverside Cancer Centre. Registered charity 123456.</p></footer>
</body></html>
"""


def make_html(path: Path, html: str = EATING_HTML) -> Path:
    path.write_text(html, encoding="utf-8")
    return path


def encrypt(src: Path, dest: Path) -> Path:
    writer = PdfWriter(clone_from=PdfReader(src))
    writer.encrypt(user_password="secret", owner_password="owner-secret")
    with dest.open("wb") as fh:
        writer.write(fh)
    return dest


def make_scanned_pdf(path: Path) -> Path:
    """A page that is only a picture of text, as a scanner makes it."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (600, 200), 255)
    ImageDraw.Draw(image).text((20, 80), "Managing fatigue", fill=0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    c = canvas.Canvas(str(path), pagesize=A4)
    c.drawImage(ImageReader(io.BytesIO(buffer.getvalue())), 60, 500, width=450, height=150)
    c.save()
    return path


def body_of(path: Path) -> str:
    return load_document(path).text


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["import", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


# --- PDF: headings rebuilt, lines joined -------------------------------------------------------------------------

def test_pdf_headings_come_from_font_sizes_and_lines_join_into_paragraphs(tmp_path):
    doc = import_file(make_pdf(tmp_path / "fatigue.pdf", FATIGUE), LeafletMetadata())
    body = doc.body
    assert body.startswith("# Managing Fatigue During Chemotherapy\n")
    assert "\n## Why chemotherapy causes fatigue\n" in body and "\n## When to contact your care team\n" in body
    assert ("Fatigue is the most common side effect of chemotherapy. Many people describe it as a tiredness "
            "that does not go away with rest or sleep.") in body
    assert "bring your questions to the follow-up visit." in body  # the document spells it with a hyphen
    assert "- Take a short walk every day.\n- Ask family and friends to help with shopping and housework." in body
    assert HEADER not in body and "Page 1" not in body and "Page 2" not in body  # page furniture


def test_pdf_bold_lines_at_body_size_are_section_headings(tmp_path):
    blocks = [("bold", "Before your appointment"), ("p", "Write down the questions you want to ask."),
              ("bold", "On the day"), ("p", "Bring a list of the medicines you take.")]
    body = import_file(make_pdf(tmp_path / "visit.pdf", blocks), LeafletMetadata()).body
    assert "## Before your appointment\n\nWrite down the questions you want to ask." in body
    assert "## On the day\n\nBring a list of the medicines you take." in body


def test_pdf_outline_gives_the_heading_levels(tmp_path):
    same_font = {kind: ("Vera", 10.5) for kind in FONTS}  # nothing in the fonts tells a heading apart
    body = import_file(make_pdf(tmp_path / "outline.pdf", FATIGUE, outline=True, fonts=same_font), LeafletMetadata()).body
    assert body.startswith("# Managing Fatigue During Chemotherapy\n")
    assert "\n## Things that can help\n" in body


def test_pdf_title_from_metadata_else_the_largest_text_of_its_first_page(tmp_path):
    titled = import_file(make_pdf(tmp_path / "a.pdf", FATIGUE, title="Fatigue and chemotherapy"), LeafletMetadata())
    cover = [("h1", "Radiotherapy"), ("h1", "A Guide for Patients"), ("h2", "What is radiotherapy?"),
             ("p", "Radiotherapy uses high-energy rays to destroy cancer cells.")]
    untitled = import_file(make_pdf(tmp_path / "b.pdf", cover), LeafletMetadata())  # reportlab says "untitled"
    assert titled.title == "Fatigue and chemotherapy"
    assert untitled.title == "Radiotherapy A Guide for Patients"


def test_pdf_text_starting_with_a_hash_is_not_a_heading(tmp_path):
    blocks = [("h1", "Diary"), ("p", "#1 tip: keep a symptom diary."), ("p", "Write the date on each page.")]
    body = import_file(make_pdf(tmp_path / "diary.pdf", blocks), LeafletMetadata()).body
    assert body.startswith("# Diary\n") and "\n\\#1 tip: keep a symptom diary.\n" in body
    assert HEADER not in body  # small print in the top margin of a one-page leaflet


# --- DOCX and HTML ------------------------------------------------------------------------------------------------

def test_docx_heading_styles_lists_and_tables(tmp_path):
    doc = import_file(make_docx(tmp_path / "mouth.docx"), LeafletMetadata())
    assert doc.title == "Looking After Your Mouth During Radiotherapy"
    assert doc.body.startswith("# Mouth care during radiotherapy\n")
    assert "\n## Daily mouth care\n\nRinse your mouth with salt water four times a day" in doc.body
    assert "- Use a soft toothbrush.\n- Avoid mouthwashes that contain alcohol." in doc.body
    assert "- You cannot swallow fluids: Call the advice line now." in doc.body  # a table row, quotable
    assert "RCC-112" not in doc.body  # page header/footer


def test_docx_without_title_property_takes_its_first_heading(tmp_path):
    assert import_file(make_docx(tmp_path / "m.docx", title=None), LeafletMetadata()).title == "Mouth care during radiotherapy"


def test_html_keeps_the_article_and_drops_page_chrome(tmp_path):
    doc = import_file(make_html(tmp_path / "eating.html"), LeafletMetadata())
    assert doc.title == "Eating Well During Cancer Treatment"  # og:title, not "<title> | site"
    assert doc.body.startswith("# Eating Well During Cancer Treatment\n")
    assert "## If food tastes different\n\nUsing plastic cutlery and adding herbs or lemon may help" in doc.body
    for chrome in ("cookies", "Our services", "Related pages", "Registered charity", "tracking", "color:#222"):
        assert chrome not in doc.body
    assert doc.front_matter["url"] == "https://riverside.example/leaflets/eating-well"  # canonical link
    assert doc.front_matter["source"] == "Riverside Cancer Centre"  # og:site_name


# --- front matter -------------------------------------------------------------------------------------------------

def test_flags_fill_the_front_matter_and_the_file_loads_as_a_document(tmp_path, capsys):
    out = tmp_path / "kb"
    code, stdout, _ = run(capsys, make_pdf(tmp_path / "fatigue.pdf", FATIGUE, title="Managing Fatigue"), "--out", out,
                          "--url", "https://riverside.example/fatigue", "--source", "Riverside Cancer Centre",
                          "--audience", "caregiver", "--cancer-type", "breast", "--cancer-type", "lung",
                          "--last-reviewed", "2025-03-01", "--review-frequency", "annually", "--license", "CC-BY-4.0")
    assert code == 0 and f"imported 1 of 1 files -> {out}" in stdout
    doc = load_document(out / "managing-fatigue.md")
    assert doc.doc_id == "managing-fatigue" and doc.title == "Managing Fatigue"
    assert doc.url == "https://riverside.example/fatigue"
    m = doc.metadata
    assert (m["source"], m["audienceLevel"], m["cancerTypes"], m["license"]) == (
        "Riverside Cancer Centre", "caregiver", ["breast", "lung"], "CC-BY-4.0")
    assert (m["status"], m["language"], m["sourceType"]) == ("active", "en", "clinic leaflet")
    assert m["citation"] == "Riverside Cancer Centre: Managing Fatigue, 2025"
    assert review_state(m, today=__import__("datetime").date(2026, 6, 1)) == ("2025-03-01", True)
    assert doc.text.startswith("# Managing Fatigue During Chemotherapy")


def test_without_url_the_field_is_empty_and_the_file_still_loads(tmp_path, capsys):
    code, _, _ = run(capsys, make_docx(tmp_path / "mouth.docx"), "--out", tmp_path / "kb")
    doc = load_document(tmp_path / "kb" / "looking-after-your-mouth-during-radiotherapy.md")
    assert code == 0 and doc.url == "" and doc.metadata["cancerTypes"] == ["general"]
    assert "lastReviewed" not in doc.metadata  # never invented


@pytest.mark.parametrize("flag, value, says", [
    ("--last-reviewed", "2025-13-01", "YYYY-MM-DD"),
    ("--last-reviewed", "March 2025", "YYYY-MM-DD"),
    ("--url", "file:///leaflets/fatigue.pdf", "http(s)"),
    ("--review-frequency", "sometimes", "annually"),
])
def test_bad_flag_values_are_one_error_line_and_nothing_is_written(tmp_path, capsys, flag, value, says):
    code, _, err = run(capsys, make_html(tmp_path / "eating.html"), "--out", tmp_path / "kb", flag, value)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {flag}") and says in err
    assert not (tmp_path / "kb").exists()


# --- writing --------------------------------------------------------------------------------------------------------

def test_an_existing_file_is_never_overwritten_without_force(tmp_path, capsys):
    source, out = make_html(tmp_path / "eating.html"), tmp_path / "kb"
    target = out / "eating-well-during-cancer-treatment.md"
    assert run(capsys, source, "--out", out)[0] == 0
    target.write_text(target.read_text().replace("plastic cutlery", "EDITED"), encoding="utf-8")

    code, stdout, err = run(capsys, source, "--out", out)
    assert code == 2 and "imported 0 of 1 files" in stdout
    assert err.count("\n") == 1 and str(target) in err and "--force" in err
    assert "EDITED" in target.read_text()

    assert run(capsys, source, "--out", out, "--force")[0] == 0
    assert "plastic cutlery" in target.read_text()
    assert sorted(p.name for p in out.iterdir()) == [target.name]  # no temp file left behind


def test_each_unreadable_file_is_one_line_and_the_others_still_import(tmp_path, capsys):
    good_pdf = make_pdf(tmp_path / "fatigue.pdf", FATIGUE)
    (tmp_path / "corrupt.docx").write_bytes(__import__("os").urandom(2048))
    (tmp_path / "empty.html").write_text("<html><head><title>x</title></head><body><nav>Home</nav></body></html>")
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0 word 97")
    (tmp_path / "damaged.pdf").write_bytes(b"%PDF-1.4\n" + __import__("os").urandom(512))
    bad = {
        encrypt(good_pdf, tmp_path / "locked.pdf"): "password",
        make_scanned_pdf(tmp_path / "scan.pdf"): "OCR",
        tmp_path / "damaged.pdf": "not a readable PDF",
        tmp_path / "corrupt.docx": "not a readable Word",
        tmp_path / "empty.html": "no text",
        tmp_path / "old.doc": "save it as .docx",
        tmp_path / "missing.pdf": "not found",
    }
    good = [good_pdf, make_docx(tmp_path / "mouth.docx")]
    code, stdout, err = run(capsys, *good, *bad, "--out", tmp_path / "kb")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == len(bad), err
    for (path, says), line in zip(bad.items(), lines):
        assert line.startswith(f"error: {path}: ") and says in line, line
    assert "Traceback" not in err
    assert f"imported 2 of 9 files -> {tmp_path / 'kb'}" in stdout
    assert len(list((tmp_path / "kb").glob("*.md"))) == 2


# --- the bot quotes imported leaflets -----------------------------------------------------------------------------

def test_imported_leaflets_are_indexed_quoted_and_cited_then_updated_incrementally(tmp_path, capsys, config, embedder, engine):
    docs, out = tmp_path / "docs", tmp_path / "index"
    files = [make_pdf(tmp_path / "fatigue.pdf", FATIGUE), make_docx(tmp_path / "mouth.docx"), make_html(tmp_path / "eating.html")]
    assert run(capsys, *files, "--out", docs, "--source", "Riverside Cancer Centre")[0] == 0
    cfg = config.replace(docs_dir=docs, index_dir=out)
    first = build_index(cfg, embedder)
    assert first.documents == 3 and not first.skipped

    bot = Engine.load(cfg, embedder, engine.classifier)  # the session's safety classifier: no second fit
    ans = bot.ask("How often should I rinse my mouth with salt water during radiotherapy?")
    sentence = "Rinse your mouth with salt water four times a day to keep it clean and comfortable."
    assert ans.status == "answered" and sentence in ans.answer
    cited = ans.citations[0]
    assert cited.title == "Looking After Your Mouth During Radiotherapy"
    assert cited.section.endswith("## Daily mouth care") and sentence in cited.quote

    visit = [("h1", "Your First Radiotherapy Visit"), ("p", "The first visit takes about an hour.")]
    assert run(capsys, make_pdf(tmp_path / "visit.pdf", visit), "--out", docs)[0] == 0
    second = build_index(cfg, embedder)
    assert second.documents == 4 and second.reused == first.passages and second.embedded == second.passages - first.passages


def test_files_over_the_size_limits_are_refused_by_name_and_the_others_still_import(tmp_path, capsys, monkeypatch):
    small, large = make_html(tmp_path / "eating.html"), make_docx(tmp_path / "mouth.docx")
    monkeypatch.setenv("RAG_IMPORT_MAX_FILE_BYTES", str(large.stat().st_size - 1))
    code, stdout, err = run(capsys, small, large, "--out", tmp_path / "kb")
    assert code == 2 and "imported 1 of 2 files" in stdout
    assert err.startswith(f"error: {large}: ") and "RAG_IMPORT_MAX_FILE_BYTES" in err and err.count("\n") == 1

    monkeypatch.delenv("RAG_IMPORT_MAX_FILE_BYTES")
    monkeypatch.setenv("RAG_MAX_FILE_BYTES", "400")  # what the index would skip is not written
    code, _, err = run(capsys, large, "--out", tmp_path / "kb2")
    assert code == 2 and "RAG_MAX_FILE_BYTES" in err and "would be skipped" in err
    assert not (tmp_path / "kb2").exists() or not list((tmp_path / "kb2").iterdir())
