"""A message as typed can carry markup (pasted HTML, markdown, links) or be no question at all ("?????", "😀",
"<img src=x onerror=…>"). Markup is removed before any decision, so the words inside are still read and answered;
what is left with no letters, or with no word the bot knows, is noise."""
from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^<>]*>")
_FENCE = re.compile(r"`{1,3}")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")  # markdown [text](url): keep the text
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
_EMPHASIS = re.compile(r"(?<!\w)(?:\*\*|__|\*|_|~~)(?=\S)|(?<=\S)(?:\*\*|__|\*|_|~~)(?!\w)")
_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class Message:
    """What the patient wrote, and the text every later stage reads."""
    original: str
    text: str  # markup removed, white space folded
    had_markup: bool

    @property
    def empty(self) -> bool:
        return not self.text


def clean(message: str) -> Message:
    """Markup out, words kept: tags (and script/style bodies) dropped, entities decoded, links reduced to their
    text, URLs and code fences removed."""
    text = message
    had = False
    if _TAG.search(text):
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(text, "html.parser")
        for node in soup(["script", "style"]):
            node.decompose()
        text, had = soup.get_text(" "), True
    elif "&" in text:
        text = html.unescape(text)
    for pattern, repl in ((_LINK, r"\1"), (_URL, " "), (_FENCE, " "), (_EMPHASIS, "")):
        text, n = pattern.subn(repl, text)
        had = had or bool(n)
    return Message(message, " ".join(text.split()), had)


def letters(text: str) -> int:
    return sum(1 for ch in text if unicodedata.category(ch).startswith("L"))


def is_noise(text: str, known: Callable[[str], bool]) -> bool:
    """No letters at all ("?????", "123", emoji), or no word the bot knows ("asdfghjkl;", "jjjj kkk")."""
    if not letters(text):
        return True
    words = _WORD.findall(text.lower())
    return not any(known(w) for w in words)


def fold(text: str) -> str:
    """Lower case without accents: patients often type none ("cancer de riñon", "leucemia mieloide")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
