
import pytest

from conftest import SEEDS, SHARED, write_doc
from rag.ingest.documents import load_documents, review_state, strip_links
from rag.errors import NoDocumentsError


def test_the_bundled_seeds_are_the_original_document_and_the_116_pdq_summaries():
    result = load_documents(SEEDS)
    ids = {d.doc_id for d in result.documents}
    assert len(result.documents) == 117 and not result.skipped
    assert "000_33357ef47611650a" in ids
    assert (SEEDS / "000_33357ef47611650a.txt").read_bytes() == (SHARED / "seeds/000_33357ef47611650a.txt").read_bytes()


def test_every_front_matter_field_is_kept_as_metadata():
    doc = next(d for d in load_documents(SEEDS).documents if d.doc_id == "000_33357ef47611650a")
    for key in ("title", "url", "source", "sourceType", "audienceLevel", "cancerTypes", "language", "license",
                "status", "lastReviewed", "reviewFrequency", "citation", "tags", "version"):
        assert key in doc.metadata
    assert doc.metadata["lastReviewed"] == "2025-12-30"  # a YAML date becomes an ISO string


def test_link_syntax_is_stripped_and_site_relative_links_become_absolute():
    text, links = strip_links("See [myeloma](/types/myeloma) and [NEJM](https://x.org/a).", "https://www.cancer.gov/a/b")
    assert text == "See myeloma and NEJM."
    assert [(l.text, l.url) for l in links] == [("myeloma", "https://www.cancer.gov/types/myeloma"), ("NEJM", "https://x.org/a")]
    assert text[links[0].start:links[0].end] == "myeloma"


def test_the_seed_keeps_its_links_for_display_with_absolute_urls():
    doc = next(d for d in load_documents(SEEDS).documents if d.doc_id == "000_33357ef47611650a")
    assert "](" not in doc.text
    assert doc.links and all(l.url.startswith("http") for l in doc.links)


def test_markdown_and_txt_files_are_found_recursively(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_doc(tmp_path, "one.md")
    write_doc(tmp_path / "a", "two.markdown")
    write_doc(tmp_path / "a" / "b", "three.txt")
    (tmp_path / "notes.csv").write_text("x")
    assert sorted(d.doc_id for d in load_documents(tmp_path).documents) == ["one", "three", "two"]


@pytest.mark.parametrize("make, problem", [
    (lambda p: p.write_text("---\ntitle: [unclosed\n---\nbody\n"), "invalid YAML"),
    (lambda p: p.write_text("---\nurl: https://x.org\n---\nbody text\n"), "no 'title'"),
    (lambda p: p.write_text("---\ntitle: Empty\n---\n\n   \n"), "body is empty"),
    (lambda p: p.write_bytes(b"---\ntitle: Latin\n---\ncaf\xe9 text\n"), "not UTF-8"),
])
def test_a_bad_file_is_skipped_with_one_line_naming_it_and_the_others_still_load(tmp_path, make, problem):
    write_doc(tmp_path, "good.md")
    bad = tmp_path / "bad.md"
    make(bad)
    result = load_documents(tmp_path)
    assert [d.doc_id for d in result.documents] == ["good"]
    assert len(result.skipped) == 1 and result.skipped[0].path == str(bad)
    assert problem in result.skipped[0].reason and "\n" not in result.skipped[0].reason


def test_a_50_mb_file_is_refused_by_size_without_being_read(tmp_path):
    write_doc(tmp_path, "good.md")
    big = tmp_path / "huge.md"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    result = load_documents(tmp_path)
    assert [d.doc_id for d in result.documents] == ["good"]
    assert "52.4 MB" in result.skipped[0].reason and "limit" in result.skipped[0].reason


def test_documents_that_are_not_active_are_skipped_and_say_why(tmp_path):
    write_doc(tmp_path, "live.md")
    write_doc(tmp_path, "old.md", status="retired")
    result = load_documents(tmp_path)
    assert [d.doc_id for d in result.documents] == ["live"]
    assert "'retired'" in result.skipped[0].reason


@pytest.mark.parametrize("make", [lambda p: None, lambda p: (p / "x.csv").write_text("a,b")])
def test_a_folder_with_no_documents_is_a_clear_error(tmp_path, make):
    make(tmp_path)
    with pytest.raises(NoDocumentsError, match="no documents found"):
        load_documents(tmp_path)


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(NoDocumentsError, match="not found"):
        load_documents(tmp_path / "nope")


def test_review_state_is_overdue_after_the_review_period_and_unknown_without_a_date():
    import datetime as dt
    meta = {"lastReviewed": "2025-12-30", "reviewFrequency": "quarterly"}
    assert review_state(meta, dt.date(2026, 1, 15)) == ("2025-12-30", False)
    assert review_state(meta, dt.date(2026, 11, 25)) == ("2025-12-30", True)
    assert review_state({}, dt.date(2026, 11, 25)) == (None, None)
    assert review_state({"lastReviewed": "2025-12-30"}, dt.date(2026, 11, 25)) == ("2025-12-30", None)
