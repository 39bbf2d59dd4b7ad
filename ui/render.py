"""Turn engine results into safe markup: every piece of user or document text is escaped, only our tags remain."""
from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
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


# Icons drawn inline (no emoji: where no emoji font is installed they render as a missing-glyph box). In 24 px user
# units with no viewBox: the chat's sanitizer removes viewBox (and aria-hidden), so the drawing must need none.
_SVG = ('<svg class="rag-icon" aria-hidden="true" focusable="false" viewBox="0 0 24 24" width="24" height="24" '
        'fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round">{}</svg>')
ICON_ALERT = _SVG.format('<path d="M12 3 2 21h20L12 3z"/><path d="M12 10v5"/><path d="M12 18h.01"/>')
ICON_INFO = _SVG.format('<circle cx="12" cy="12" r="9.5"/><path d="M12 11v6"/><path d="M12 7.5h.01"/>')
ICON_PHONE = _SVG.format('<path d="M5 3h4l2 5-2.5 1.5a11 11 0 0 0 6 6L16 13l5 2v4a2 2 0 0 1-2 2A17 17 0 0 1 3 5a2 2 0 0 1 2-2z"/>')
ICON_TEXT = _SVG.format('<path d="M4 4h16v12H8l-4 4V4z"/>')


@dataclass(frozen=True)
class Phones:
    """The numbers an urgent reply offers as one-tap calls (the clinic's configuration)."""
    emergency: str = "911"
    crisis: str = "988"
    team: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> "Phones":
        return cls(config.emergency_number or "911", config.crisis_line or "988", config.care_team_phone or None)


def _dial(number: str) -> str:
    """A number as a tel:/sms: target: digits and a leading + only."""
    return ("+" if number.strip().startswith("+") else "") + re.sub(r"\D", "", number)


def call_buttons(category: str, ui: Mapping[str, str], phones: Phones) -> str:
    """Large tap-to-call links for an urgent reply: the crisis line (call or text) for a crisis, the care team for
    fever during treatment and oncology emergencies when its number is configured, the emergency number always."""
    links = []

    def link(scheme: str, number: str, label: str, icon: str) -> None:
        if _dial(number).lstrip("+"):
            links.append(f'<a class="rag-call-button" href="{scheme}:{_dial(number)}">{icon}'
                         f'<span>{html.escape(label)}</span></a>')

    if category == "crisis":
        link("tel", phones.crisis, ui["call_crisis"].format(number=phones.crisis), ICON_PHONE)
        link("sms", phones.crisis, ui["text_crisis"].format(number=phones.crisis), ICON_TEXT)
    if phones.team and category in ("chemo_fever", "oncology_emergency"):
        link("tel", phones.team, ui["call_team"], ICON_PHONE)
    link("tel", phones.emergency, ui["call_emergency"].format(number=phones.emergency), ICON_PHONE)
    if phones.team and category not in ("chemo_fever", "oncology_emergency", "crisis"):
        link("tel", phones.team, ui["call_team"], ICON_PHONE)
    return (f'<div class="rag-calls" role="group" aria-label="{html.escape(ui["call_for_help"])}">'
            + "".join(links) + "</div>")


def answer_markdown(ans: Answer, ui: Mapping[str, str] | None = None, phones: Phones | None = None) -> str:
    """The chat bubble: urgent and no-answer replies look different; answers list their sources under them. `ui`
    holds the page's words in the patient's language (rag/message/replies/<code>.yaml); urgent replies end in
    tap-to-call buttons for `phones`."""
    ui = ui or english_ui()
    body = "\n".join(text(line) if not line.startswith("- ") else "- " + text(line[2:]) for line in ans.answer.split("\n"))
    if ans.status == "urgent":
        return (f'<div class="rag-urgent" role="alert"><strong>{ICON_ALERT} {html.escape(ui["urgent_banner"])}'
                f'</strong></div>\n\n**{body}**\n\n{call_buttons(ans.reason, ui, phones or Phones())}')
    if ans.reason.startswith("small_talk") or ans.reason == "other_language":
        return body  # a greeting, thanks, … : a plain reply, not a refusal
    if ans.status != "answered":
        return (f'<div class="rag-noanswer"><strong>{ICON_INFO} {html.escape(ui["no_answer_banner"])}</strong></div>'
                f'\n\n{body}')
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
