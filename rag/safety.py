"""Safety checks that run before retrieval: emergencies first, then requests the bot must never answer."""
from __future__ import annotations

import re
from dataclasses import dataclass

URGENT = "urgent"
DECLINE = "decline"


@dataclass(frozen=True)
class SafetyVerdict:
    action: str  # URGENT | DECLINE
    category: str  # crisis | medical_emergency | chemo_fever | dosing | personal_verdict | injection
    message: str


MESSAGES = {
    "crisis": (
        "You matter, and you don't have to face this alone. If you are thinking about ending your life, "
        "have harmed yourself or have taken too much of a medicine, call your local emergency number (911 in the US) now. "
        "In the US you can also call or text 988 (Suicide & Crisis Lifeline) any time, day or night. "
        "Please also tell your care team how you are feeling."
    ),
    "medical_emergency": (
        "This may be a medical emergency. Call your local emergency number (911 in the US) or go to the nearest "
        "emergency department now. Do not wait for an answer from this chat."
    ),
    "chemo_fever": (
        "A fever or chills during cancer treatment can be a medical emergency. Call your cancer care team's "
        "24-hour number now, or go to the nearest emergency department (call 911 in the US if you feel very unwell). "
        "Do not wait for an answer from this chat."
    ),
    "dosing": (
        "I can't give advice about doses or how much of a medicine to take. Please ask your doctor, nurse or "
        "pharmacist, who know your treatment."
    ),
    "personal_verdict": (
        "I can't tell whether you have a condition or what you personally should do — only your care team, who can "
        "examine you, can. I can share general information from trusted sources if you ask about a topic."
    ),
    "injection": (
        "I can only answer questions about cancer from the trusted sources I have, and I can't change how I work."
    ),
}

_PERSON = r"(?:i|i'm|im|i've|i am|me|my|mine|we|our|he|she|his|her|him|they|mom|mother|dad|father|husband|wife|son|daughter|child|baby|partner)"
_CRISIS = re.compile(
    r"\b(?:suicid\w*|kill(?:ing)? (?:myself|me)|end(?:ing)? (?:it all|my life|it)\b|(?:don'?t|do not) want to (?:live|be alive|be here)|"
    r"want to die|better off dead|self[- ]?harm|hurt(?:ing)? myself|cut(?:ting)? myself|overdos\w*|"
    r"took (?:all|too many|a lot|the whole bottle)\b.{0,30}\b(?:pills|tablets|medicines?|medications?))", re.I)
_EMERGENCY = re.compile(
    r"\b(?:can'?t breathe|cannot breathe|can not breathe|(?:trouble|struggling|difficulty) breathing|not breathing|stopped breathing|"
    r"lips? (?:are |is )?(?:turning |going )?blue|turning blue|chest pain|pain in (?:my|his|her|the) chest|crushing (?:pain|chest)|"
    r"(?:vomiting|throwing up|coughing up|spitting up) blood|blood in (?:my|his|her) (?:vomit|stool)|"
    r"passed out|passing out|unconscious|unresponsive|won'?t wake up|seizure|face (?:is )?drooping|slurred speech|"
    r"(?:bleeding|blood) (?:that )?(?:won'?t|will not|doesn'?t) stop|heavy bleeding|severe bleeding|"
    r"throat (?:is )?(?:closing|swelling)|swollen (?:tongue|throat)|anaphyla\w*|sudden (?:weakness|numbness|confusion))", re.I)
_FEVER = re.compile(r"\b(?:fever|feverish|temperature|temp|chills|rigors|shivering|1(?:0[0-9])(?:\.\d)?\s*(?:°\s*)?f?|3[89](?:\.\d)?\s*°?\s*c)\b", re.I)
_TREATMENT = re.compile(r"\b(?:chemo\w*|infusion|immunotherapy|neutropeni\w*|low (?:white|blood) count|on treatment|my treatment|radiation|transplant)\b", re.I)
_PERSONAL = re.compile(rf"\b{_PERSON}\b", re.I)
# questions about a topic ("is chest pain a symptom of ...", "how do doctors treat ...") are information requests
_INFORMATIONAL = re.compile(
    r"^\s*(?:is|are|can|could|does|do|what|how|why|which|when|should)\b.*\b(?:symptom|sign|cause|caused|side effect|"
    r"treat|treated|treatment|mean|risk|common|normal|happen|related|linked)\w*", re.I)
_DOSING = re.compile(
    r"\b(?:how (?:much|many)|what (?:dose|dosage|amount)|which dose|dosage|dose of|doses of|\d+\s*(?:mg|mcg|ml|milligrams?)|max(?:imum)? dose)\b"
    r".{0,60}\b(?:take|taking|give|giving|dose|dosage|safe)\b"
    r"|\b(?:double|increase|decrease|skip|stop) (?:my|the|his|her) (?:dose|medicine|medication|pills?)\b", re.I)
_VERDICT = re.compile(
    r"\b(?:do|does|did) (?:i|he|she|my \w+) (?:have|has|got) (?:cancer|a tumou?r|leukemia|lymphoma|\w+ cancer)\b|"
    r"\b(?:am i|is (?:he|she|my \w+)) (?:going to die|dying|going to be ok(?:ay)?|cured)\b|\bwill (?:i|he|she) (?:die|survive|live)\b|"
    r"\byes or no\b|\bis (?:it|this|my \w+) (?:cancer|malignant|benign)\b|\bhow long do i have\b", re.I)
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget) (?:all |any |the |your )?(?:previous|prior|above|earlier|system)? ?(?:instructions|rules|prompts?)\b|"
    r"\byou are now\b|\bact as\b|\bpretend (?:to be|you are)\b|\bsystem prompt\b|\bjailbreak\b|\bdeveloper mode\b|\bno rules\b|\bDAN\b")


def check(message: str) -> SafetyVerdict | None:
    """Urgent beats everything (a crisis inside a prompt injection is still a crisis); then the declines."""
    text = " ".join(message.split())
    if _CRISIS.search(text):
        return SafetyVerdict(URGENT, "crisis", MESSAGES["crisis"])
    informational = bool(_INFORMATIONAL.search(text)) and not re.search(r"\b(?:right now|i'?m having|i am having)\b", text, re.I)
    if _EMERGENCY.search(text) and not informational:
        return SafetyVerdict(URGENT, "medical_emergency", MESSAGES["medical_emergency"])
    if _FEVER.search(text) and _TREATMENT.search(text) and _PERSONAL.search(text) and not informational:
        return SafetyVerdict(URGENT, "chemo_fever", MESSAGES["chemo_fever"])
    if _INJECTION.search(text):
        return SafetyVerdict(DECLINE, "injection", MESSAGES["injection"])
    if _DOSING.search(text):
        return SafetyVerdict(DECLINE, "dosing", MESSAGES["dosing"])
    if _VERDICT.search(text):
        return SafetyVerdict(DECLINE, "personal_verdict", MESSAGES["personal_verdict"])
    return None
