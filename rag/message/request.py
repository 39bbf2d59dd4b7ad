"""What a message asks for: general information, a personal verdict, or both; and whether it tells of the
patient's own situation.

"my mom is 67 and just got diagnosed with AML, what are the treatment options" carries personal context but asks
for general information: it is answered, opened by a sentence saying only the care team can tell whether it
applies. Only a message that asks for nothing but a verdict ("I found a lump. do I have cancer? yes or no") is
declined. The safety layers find the verdict wording; this module says whether anything else is asked.
"""
from __future__ import annotations

import re

from ..retrieval.aspects import question_aspect
from .clean import fold

# the patient or someone close, in English and Spanish (accents folded)
_PERSONAL = {
    "en": re.compile(r"\b(?:i|i'm|im|i've|ive|i'd|me|my|mine|we|we're|our|us|mom|mum|mother|dad|father|husband|wife|"
                     r"son|daughter|child|kid|baby|partner|boyfriend|girlfriend|brother|sister|grandma|grandpa|"
                     r"grandmother|grandfather|aunt|uncle|friend|\d{1,2}[- ]?(?:y/?o|yrs?|years?)(?:[- ]old)?)\b", re.I),
    "es": re.compile(r"\b(?:yo|me|mi|mis|tengo|tuve|estoy|nosotros|nuestr[oa]s?|mama|papa|madre|padre|esposo|esposa|"
                     r"marido|hij[oa]s?|bebe|herman[oa]|abuel[oa]|ti[oa]|amig[oa]|pareja|\d{1,2} anos)\b", re.I),
}
# a request for information: a question word opening a clause, or a request verb
_ASKS = {
    "en": re.compile(r"(?:^|[.,;!?]\s*|\b(?:and|but|so|also)\s+)(?:what|whats|what's|how|which|why|who|where|when|"
                     r"is there|are there|can (?:it|they|you)|could (?:it|they)|does|do (?:they|people)|tell me|"
                     r"explain|info|information)\b", re.I),
    "es": re.compile(r"(?:^|[.,;!?¿]\s*|\b(?:y|pero)\s+)(?:que|como|cual|cuales|por que|quien|donde|cuando|hay|"
                     r"se puede|puede|explique|informacion)\b", re.I),
}


def personal_context(text: str, language: str = "en") -> bool:
    """The message tells of the patient's (or a relative's) own situation."""
    cue = _PERSONAL.get(language, _PERSONAL["en"])
    return bool(cue.search(fold(text) if language != "en" else text))


def asks_beyond_verdict(text: str, span: tuple[int, int] | None, language: str = "en") -> bool:
    """Something other than the verdict is asked: a question word or an aspect ("symptoms", "treatment") in what
    is left once the verdict's wording is taken out."""
    rest = text if span is None else f"{text[:span[0]]} . {text[span[1]:]}"
    rest = fold(rest) if language != "en" else rest
    return bool(_ASKS.get(language, _ASKS["en"]).search(rest)) or question_aspect(rest) is not None


_CLAUSE = re.compile(r"(?<=[.!?;,])\s+|\n+")


def question_part(text: str, language: str = "en") -> str:
    """The clauses of a message that ask ("…what blood tests do they use?"), without the story around them
    ("my son is 19, just diagnosed, found a lump…"): the words a quoted sentence should match and the aspect
    asked about. The whole message when every clause asks, or none does."""
    parts = [p for p in _CLAUSE.split(text) if p.strip()]
    cue = _ASKS.get(language, _ASKS["en"])
    asking = [p for p in parts if "?" in p or cue.search(fold(p) if language != "en" else p)]
    return " ".join(asking) if asking and len(asking) < len(parts) else text
