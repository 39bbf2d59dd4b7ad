"""The printable conversation: every question and answer, each source's full address and review date, the date and
the information-only line; all text escaped."""
import datetime as dt

from rag.message.replies import ReplyCatalog
from ui.transcript import transcript_html, turn

UI = dict(ReplyCatalog.load().english.ui)


def test_the_transcript_holds_questions_answers_full_addresses_review_dates_and_the_note(engine):
    ans = engine.ask("what is daratumumab?")
    page = transcript_html([turn(ans)], UI, dt.date(2026, 11, 30))
    assert "2026-11-30" in page and "Information only, not medical advice. Bring these questions to your care team." in page
    assert "what is daratumumab?" in page and ans.sentences[0].text.split(" ")[0] in page
    for c in ans.citations:
        assert c.url in page
    assert ("last reviewed" in page) or ("review date not given" in page)


def test_markup_typed_by_a_patient_is_text_in_the_transcript():
    page = transcript_html([{"question": "<script>alert(1)</script>", "status": "no_answer", "answer": "x",
                             "sources": [{"n": 1, "title": "<b>t</b>", "url": "https://e.org/?a=1&b=<2>",
                                          "last_reviewed": "2025-01-02"}]}], UI, dt.date(2026, 1, 1))
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>t</b>" not in page
    assert "https://e.org/?a=1&amp;b=&lt;2&gt;" in page and "last reviewed: 2025-01-02" in page
