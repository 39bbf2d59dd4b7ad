"""The conversation as a clean page to print or save as PDF and take to an appointment.

Built from what the patient already has on screen, kept in the browser session; the page prints it with the
browser's own print dialog ("Save as PDF" there), so nothing is sent anywhere. Every question, every answer, and
each source's full web address and review date, under the date and the line that this is information only."""
from __future__ import annotations

import datetime as dt
import html
from typing import Any, Mapping

from rag.answer.compose import Answer


def turn(ans: Answer) -> dict[str, Any]:
    """What one question and its answer contribute to the transcript."""
    sources, seen = [], set()
    for c in ans.citations:
        if c.n not in seen:
            seen.add(c.n)
            sources.append({"n": c.n, "title": c.title, "url": c.url, "last_reviewed": c.last_reviewed})
    return {"question": ans.question, "status": ans.status, "answer": ans.answer, "sources": sources}


def transcript_html(turns: list[Mapping[str, Any]], ui: Mapping[str, str], today: dt.date) -> str:
    """The printable page's body: escaped text only; URLs written out in full (a printed link cannot be clicked)."""
    esc = html.escape
    parts = [f"<h1>{esc(ui['transcript_title'])}</h1>",
             f"<p class='rag-transcript-date'>{esc(today.isoformat())}</p>",
             f"<p class='rag-transcript-note'><strong>{esc(ui['transcript_note'])}</strong></p>"]
    for i, t in enumerate(turns, 1):
        answer = "<br>".join(esc(line) for line in str(t["answer"]).split("\n"))
        parts.append(f"<section class='rag-transcript-turn'><h2>{i}. {esc(ui['transcript_question'])}: "
                     f"{esc(str(t['question']))}</h2><p><strong>{esc(ui['transcript_answer'])}:</strong> {answer}</p>")
        if t.get("sources"):
            items = "".join(
                f"<li>[{s['n']}] {esc(s['title'])}<br><span class='rag-transcript-url'>{esc(s['url'])}</span><br>"
                + (f"{esc(ui['transcript_reviewed'])}: {esc(s['last_reviewed'])}" if s.get("last_reviewed")
                   else esc(ui["transcript_review_unknown"])) + "</li>" for s in t["sources"])
            parts.append(f"<p><strong>{esc(ui['sources'])}</strong></p><ul>{items}</ul>")
        parts.append("</section>")
    return "<div class='rag-transcript'>" + "".join(parts) + "</div>"
