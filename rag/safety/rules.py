"""Safety decisions, made before retrieval, in two layers.

1. Rules: a few precise patterns for unmistakable wordings ("I want to kill myself", "he is not breathing",
   "101.5 after chemo"). They are kept short on purpose: each must be right whenever it fires.
2. The semantic layer (`triage.py`): a classifier over the question's embedding, trained on the labelled bank in
   `rag/safety/bank/` (plus a clinic's own examples), that catches the same situations in other words.

Urgent beats everything (a crisis inside a prompt injection is still a crisis); then the declines.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..message.clean import fold
from ..message.smalltalk import small_talk
from .triage import URGENT_LABELS, Triage

URGENT = "urgent"
DECLINE = "decline"
SMALL_TALK = "small_talk"  # a greeting, thanks, goodbye, "who are you?", "are you a doctor?", noise: a fixed reply
RULE, CLASSIFIER = "rule", "classifier"


@dataclass(frozen=True)
class SafetyVerdict:
    action: str  # URGENT | DECLINE | SMALL_TALK
    category: str  # crisis | medical_emergency | oncology_emergency | chemo_fever | dosing | personal_verdict | injection
    message: str
    layer: str = RULE  # which layer decided: rule | classifier
    label: str = ""  # the fine category (e.g. spinal_cord_compression)
    score: float | None = None  # the classifier's score when it decided (summed class probability)
    details: dict[str, Any] = field(default_factory=dict)  # both layers' views, for the staff console and audit log

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "category": self.category, "label": self.label, "layer": self.layer,
                "score": None if self.score is None else round(self.score, 4), **self.details}


def messages(care_team_phone: str | None = None, emergency_number: str | None = None) -> Mapping[str, str]:
    """The fixed English replies (rag/message/replies/en.yaml); a clinic's own 24-hour line and emergency number
    replace the generic wording. Other languages: ReplyCatalog."""
    from ..message.replies import ReplyCatalog

    return ReplyCatalog.load(care_team_phone=care_team_phone, emergency_number=emergency_number).english.texts


MESSAGES = messages()

# ---- layer 1: precise rules ------------------------------------------------------------------------------
_WHO = (r"(?:i|i'm|im|i've|ive|i am|me|my|we|he|she|he's|hes|she's|shes|they|mom|mum|mother|dad|father|husband|"
        r"wife|son|daughter|child|baby|partner|brother|sister|grandma|grandpa|friend)")
# standard warning statements of suicide-risk screening (intent, plan, wish to be dead), any person
_CRISIS = re.compile(
    r"\b(?:kill(?:ing)? (?:myself|himself|herself|themselves)|end(?:ing)? (?:it all|my life|his life|her life|things)\b|"
    r"end it (?:tonight|today|now|soon)|take (?:my|his|her) (?:own )?life|commit(?:ting)? suicide|suicidal|"
    r"suicide (?:plan|note|letter)|(?:don'?t|do not|doesn'?t) want to (?:live|be alive|be here) any ?more|want(?:s)? to die(?! at home| peacefully| in (?:a |the )?(?:hospice|hospital|peace))|"
    r"better off (?:dead|without me)|no reason to live|(?:not|never) wake up again|go to sleep and not wake up|"
    r"hurt(?:ing)? (?:myself|himself|herself)|cut(?:ting)? (?:myself|himself|herself)|self[- ]harm(?:ing|ed)?\b(?! risk)|"
    r"(?:i|he|she|they|my \w+) (?:overdosed|took (?:all|too many|a whole bottle|the whole bottle)\b.{0,30}\b"
    r"(?:pills|tablets|medicines?|medications?)))", re.I)
_EMERGENCY = re.compile(
    r"\b(?:can'?t breathe|cannot breathe|not breathing|stopped breathing|lips? (?:are |is )?(?:turning |going )?blue|"
    r"(?:vomiting|throwing up|coughing up) blood|unconscious|unresponsive|won'?t wake up|"
    r"(?:is|i'm|im|am|he's|hes|she's|shes) having a seizure|face (?:is )?drooping|(?:bleeding|blood) (?:that )?(?:won'?t|will not|doesn'?t) stop|"
    r"throat (?:is )?(?:closing|swelling)|crushing (?:pain|chest))", re.I)
_NOW = re.compile(rf"\b(?:{_WHO}|right now|now|just|suddenly)\b", re.I)
_PERSONAL = re.compile(rf"\b{_WHO}\b", re.I)
# a thermometer reading in the fever range: with a decimal or a unit ("38.4", "101 F", "39°C"), not a threshold
_FEVER_READING = re.compile(
    r"(?<![\d.])(?<!over )(?<!above )(?<!than )(?<!under )(?:(?:3[89]|4[01])[.,]\d|(?:3[89]|4[01])\s*°?\s*c|"
    r"10[0-5](?:\.\d)?\s*°?\s*f|10[0-5]\.\d)(?![\d.])\b|"
    r"\b(?:fever|temp|temperature)(?: of| is| was| at| reads?)?\s*(?:10[0-5]|3[89]|4[01])\b", re.I)
# a message set in the past or in general ("in 2021", "last year", "years ago", "never had") reports no emergency now
_NOT_NOW = re.compile(r"\b(?:(?:19|20)\d\d|ago|once|back in|last (?:year|month|spring|summer|autumn|fall|winter|time)|"
                      r"never had|not on any|in general)\b", re.I)
# long past ("in 2012", "years ago", "last year"): a crisis wording then is history, which the classifier's
# happening-now view judges; "an hour ago" is not in it
_LONG_AGO = re.compile(r"\b(?:(?:19|20)\d\d|(?:years|decades) ago|last (?:year|spring|summer|autumn|fall|winter)|back in|"
                       r"when i was (?:young|a teen\w*|\d+))\b", re.I)
# a fever reading, or shaking chills
_FEVER_SIGN = re.compile(rf"(?:{_FEVER_READING.pattern})|\b(?:rigors?|shaking chills)\b", re.I)
_TREATMENT = re.compile(r"\b(?:chemo\w*|infusion|immunotherapy|neutropeni\w*|transplant|cycle \d+)\b", re.I)
_ASKS_WHAT = re.compile(r"^\s*(?:what|which|when|why|how)\b(?!.*\b(?:i|my|he|she|his|her)\b)", re.I)
_DOSING = re.compile(
    r"\b(?:how (?:much|many)|what (?:dose|dosage|amount)|which dose|dosage|dose of|doses of|\d+\s*(?:mg|mcg|ml|milligrams?)|max(?:imum)? dose)\b"
    r".{0,60}\b(?:take|taking|give|giving|dose|dosage|safe)\b"
    r"|\b(?:double|increase|decrease|skip) (?:my|the|his|her) (?:dose|medicine|medication|pills?)\b", re.I)
_VERDICT = re.compile(
    r"\b(?:do|does|did) (?:i|he|she|my \w+) (?:have|has|got) (?:cancer|a tumou?r|leukemia|lymphoma|\w+ cancer)\b|"
    r"\b(?:am i|is (?:he|she|my \w+)) (?:going to die|dying|going to be ok(?:ay)?|cured)\b|\bwill (?:i|he|she) (?:die|survive|live)\b|"
    r"\byes or no\b|\bis (?:it|this|my \w+) (?:cancer|malignant|benign)\b|\bhow long do (?:i|we) have\b", re.I)
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget) (?:all |any |the |your )?(?:previous|prior|above|earlier|system)? ?(?:instructions|rules|prompts?)\b|"
    r"\byou are now\b|\bact as\b|\bpretend (?:to be|you are)\b|\bsystem prompt\b|\bjailbreak\b|\bdeveloper mode\b|\bno rules\b|\bDAN\b")


# ---- the same unmistakable wordings in Spanish, matched without accents (patients often type none) --------------
_ES_CRISIS = re.compile(
    r"\b(?:matarme(?! de)|me voy a matar(?! de)|me quiero matar(?! de)|suicidarme|quitarme la vida|quitarse la vida|"
    r"acabar con (?:mi|su) vida|(?:ya )?no quiero (?:seguir )?vivir|quiero morirme|me quiero morir(?! de)|"
    r"hacerme dano|cortarme (?:las venas|los brazos)|(?:me|se) (?:tomo|tome) todas (?:las|sus|mis) pastillas|"
    r"(?:me|se) (?:tomo|tome) (?:un|el) frasco|sobredosis)\b", re.I)
_ES_EMERGENCY = re.compile(
    r"\b(?:no (?:puede|puedo|podia|pueden) respirar|no respira|dejo de respirar|labios (?:morados|azules)|"
    r"(?:vomit\w*|tosiendo|escupiendo) sangre|inconsciente|no (?:despierta|reacciona)|convulsionando|"
    r"(?:se le|se me) (?:cayo|torcio|paralizo) (?:la cara|la boca|medio cuerpo)|"
    r"(?:no (?:para|deja) de sangrar|sangr\w* (?:que )?no (?:para|se detiene))|se (?:me|le) cierra la garganta)\b", re.I)
_ES_NOW = re.compile(r"\b(?:ahora|ahorita|de repente|en este momento|mi|me|esta|estoy|se|le|acaba de)\b", re.I)
_ES_NOT_NOW = re.compile(r"\b(?:(?:19|20)\d\d|hace (?:\w+ )?(?:anos|meses)|el ano pasado|una vez|nunca)\b", re.I)
_ES_ASKS_WHAT = re.compile(r"^\W*(?:que|cual|cuales|como|cuando|por que)\b(?!.*\b(?:yo|mi|mis|me|el|ella|su)\b)", re.I)
_ES_NEGATED = re.compile(r"\bno (?:pienso|quiero|voy a|estoy con|estoy en|esta con|esta en)\b")  # just before the words
_ES_TREATMENT = re.compile(r"\b(?:quimio\w*|infusion|inmunoterapia|neutropeni\w*|trasplante|ciclo \d+)\b", re.I)
_ES_FEVER = re.compile(r"(?:\b(?:3[89]|4[01])(?:[.,]\d)?\s*(?:°\s*c?|grados)?\s*de (?:fiebre|temperatura)|"
                       r"\b(?:fiebre|temperatura|calentura) (?:de |en )?(?:3[89]|4[01])\b|\bescalofrios\b|\btiritando\b)", re.I)


@dataclass(frozen=True)
class UrgentRules:
    """One language's unmistakable emergency wordings, and what silences them (a question in general, the past,
    a negation just before the words)."""
    crisis: re.Pattern
    crisis_past: re.Pattern  # a crisis wording set in the past is history (the classifier judges it)
    emergency: re.Pattern
    now: re.Pattern
    not_now: re.Pattern
    asks_what: re.Pattern
    treatment: re.Pattern
    fever: re.Pattern
    negated: re.Pattern | None = None
    folded: bool = False  # matched on lower-case text without accents

    def check(self, text: str) -> tuple[str, str, str] | None:
        text = fold(text) if self.folded else text

        def affirmed(match: re.Match | None) -> bool:
            return bool(match) and not (self.negated and self.negated.search(text[max(0, match.start() - 16):match.start()]))

        if affirmed(self.crisis.search(text)) and not self.asks_what.search(text) and not self.crisis_past.search(text):
            return URGENT, "crisis", "crisis"
        if self.emergency.search(text) and self.now.search(text) and not self.not_now.search(text):
            return URGENT, "medical_emergency", "medical_emergency"
        if affirmed(self.treatment.search(text)) and self.fever.search(text) and not self.asks_what.search(text) \
                and not self.not_now.search(text):
            return URGENT, "chemo_fever", "neutropenic_fever"
        return None


URGENT_RULES = (
    UrgentRules(_CRISIS, _LONG_AGO, _EMERGENCY, _NOW, _NOT_NOW, _ASKS_WHAT, _TREATMENT, _FEVER_SIGN),
    UrgentRules(_ES_CRISIS, _ES_NOT_NOW, _ES_EMERGENCY, _ES_NOW, _ES_NOT_NOW, _ES_ASKS_WHAT, _ES_TREATMENT, _ES_FEVER,
                _ES_NEGATED, folded=True),
)


def rule_check(text: str) -> tuple[str, str, str] | None:
    """(action, category, label) when an unmistakable pattern fires (English or Spanish), else None."""
    for rules in URGENT_RULES:
        found = rules.check(text)
        if found:
            return found
    if _INJECTION.search(text):
        return DECLINE, "injection", "injection"
    if _DOSING.search(text):
        return DECLINE, "dosing", "dosing"
    if _VERDICT.search(text) and _PERSONAL.search(text):
        return DECLINE, "personal_verdict", "personal_verdict"
    return None


def verdict_span(text: str) -> tuple[int, int] | None:
    """Where a message asks for a personal verdict ("do I have cancer?", "is it cancer", "yes or no"), if it does."""
    found = _VERDICT.search(text)
    return found.span() if found else None


def urgent_kind(label: str) -> str:
    return URGENT_LABELS.get(label, "medical_emergency")


def assess(message: str, triage: Triage | None = None, *, urgent_threshold: float = 0.5,
           decline_threshold: float = 0.5, crisis_threshold: float | None = None,
           small_talk_threshold: float = 0.5, replies: Mapping[str, str] | None = None) -> SafetyVerdict | None:
    """Both layers' decision: an emergency rule first; small talk ("hi", "thanks", "bye") when the classifier finds
    it likelier than every emergency together; then the classifier's urgent score against its threshold (a crisis
    may have its own); then small talk; then the declines."""
    replies = replies or MESSAGES
    text = " ".join(message.split())
    rule = rule_check(text)
    details: dict[str, Any] = {"rule": None if rule is None else {"action": rule[0], "category": rule[1]}}
    if triage is not None:
        details["classifier"] = triage.as_dict()

    def verdict(action: str, category: str, label: str, layer: str, score: float | None) -> SafetyVerdict:
        return SafetyVerdict(action, category, replies[category], layer, label, score, details)

    if rule and rule[0] == URGENT:
        return verdict(*rule, RULE, None)
    talk = small_talk(triage.top_label, triage.top_score, small_talk_threshold) if triage is not None else None
    if talk and triage.talk_mass >= triage.urgent_mass:
        return verdict(SMALL_TALK, talk, talk, CLASSIFIER, triage.top_score)
    cut = crisis_threshold if crisis_threshold is not None and triage and triage.urgent_label == "crisis" \
        else urgent_threshold
    if triage is not None and triage.urgent_score >= cut:
        return verdict(URGENT, urgent_kind(triage.urgent_label), triage.urgent_label, CLASSIFIER, triage.urgent_score)
    if talk:
        return verdict(SMALL_TALK, talk, talk, CLASSIFIER, triage.top_score)
    if rule:
        return verdict(*rule, RULE, None)
    if triage is not None and triage.decline_score >= decline_threshold:
        return verdict(DECLINE, triage.decline_label, triage.decline_label, CLASSIFIER, triage.decline_score)
    return None


def check(message: str) -> SafetyVerdict | None:
    """The rule layer alone (no embedding needed)."""
    return assess(message, None)
