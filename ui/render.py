"""Turn engine results into safe markup: every piece of user or document text is escaped, only our tags remain."""
from __future__ import annotations

import functools
import html
import re
from typing import Any, Mapping
from urllib.parse import urlparse

from rag.answer.compose import Answer

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$])")


def text(value: Any) -> str:
    """Inert text for markdown/HTML: HTML-escaped and markdown-escaped (renders exactly as typed)."""
    return html.escape(_MD_SPECIAL.sub(r"\\\1", str(value)), quote=False)


def safe_url(url: str) -> str | None:
    parsed = urlparse(url or "")
    return html.escape(url, quote=True) if parsed.scheme in ("http", "https") and parsed.netloc else None


@functools.lru_cache(maxsize=1)
def english_ui() -> dict[str, str]:
    """The page's words in English (rag/message/replies/en.yaml), for callers that pass none."""
    from rag.message.replies import ReplyCatalog

    return dict(ReplyCatalog.load().english.ui)


def answer_markdown(ans: Answer, ui: Mapping[str, str] | None = None) -> str:
    """The chat bubble: urgent and no-answer replies look different; answers list their sources under them. `ui`
    holds the page's words in the patient's language (rag/message/replies/<code>.yaml)."""
    ui = ui or english_ui()
    body = "\n".join(text(line) if not line.startswith("- ") else "- " + text(line[2:]) for line in ans.answer.split("\n"))
    if ans.status == "urgent":
        return (f'<div class="rag-urgent" role="alert"><strong>🚨 {html.escape(ui["urgent_banner"])}</strong></div>\n\n'
                f"**{body}**")
    if ans.reason.startswith("small_talk") or ans.reason == "other_language":
        return body  # a greeting, thanks, … : a plain reply, not a refusal
    if ans.status != "answered":
        return f'<div class="rag-noanswer"><strong>ℹ️ {html.escape(ui["no_answer_banner"])}</strong></div>\n\n{body}'
    lines = ([f'<p class="rag-searched">{html.escape(ui["searched_for"])}: <em>{html.escape(ans.searched_for)}</em></p>', ""]
             if ans.searched_for else []) + [body, "", f"**{text(ui['sources'])}**", ""]
    shown: set[int] = set()
    for c in ans.citations:  # one number per document; under it, each quoted passage with its section
        if c.n not in shown:
            shown.add(c.n)
            url = safe_url(c.url)
            title = f'<a href="{url}" target="_blank" rel="noopener noreferrer">{html.escape(c.title)}</a>' if url else text(c.title)
            review = "" if c.review_overdue is not True else " · <em>review overdue</em>"
            lines.append(f"{c.n}. {title}{review}")
        section = text(c.section.split(" > ")[-1].lstrip("#").strip())
        lines.append(f"   - {section}: <em class=\"rag-quote\">{html.escape(c.quote, quote=False)}</em>")
    lines += ["", f"<small>{html.escape(ui['disclaimer'])}</small>"]
    return "\n".join(lines)


def highlighted_passage(passage: str, sentences: list[str]) -> str:
    """The full passage as HTML with the cited sentences wrapped in <mark>."""
    spans: list[tuple[int, int]] = []
    for s in sentences:
        i = passage.find(s)
        if i >= 0:
            spans.append((i, i + len(s)))
    spans.sort()
    out, pos = [], 0
    for a, b in spans:
        if a < pos:
            continue
        out.append(html.escape(passage[pos:a]))
        out.append(f"<mark>{html.escape(passage[a:b])}</mark>")
        pos = b
    out.append(html.escape(passage[pos:]))
    return "".join(out).replace("\n", "<br>")
