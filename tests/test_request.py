"""What a message asks: general information, a personal verdict only, or both; and personal context."""
import pytest

from rag.message.request import asks_beyond_verdict, personal_context, question_part
from rag.safety.rules import verdict_span


@pytest.mark.parametrize("text", ["I found a small lump under my neck. do I have cancer? yes or no", "do i have cancer",
                                  "is my mole cancer"])
def test_a_message_asking_only_for_a_verdict_asks_nothing_beyond_it(text):
    assert not asks_beyond_verdict(text, verdict_span(text))


@pytest.mark.parametrize("text", ["what is a desmoid tumour, is it cancer",
                                  "is my mole cancer? what are the warning signs of melanoma"])
def test_a_general_question_beside_a_verdict_is_seen(text):
    assert asks_beyond_verdict(text, verdict_span(text))


@pytest.mark.parametrize("text,lang,expected", [
    ("my dad is 70 and has CLL, how is it treated", "en", True),
    ("our 6 yr old has wilms tumour", "en", True),
    ("how is melanoma treated", "en", False),
    ("mi mamá tiene leucemia, ¿cuál es el tratamiento?", "es", True),
    ("¿cómo se trata el melanoma?", "es", False),
])
def test_personal_context_is_recognised_in_english_and_spanish(text, lang, expected):
    assert personal_context(text, lang) is expected


def test_the_question_part_drops_the_story_around_it():
    text = "my son is 19 and found a lump. the urologist ordered blood work. what blood tests are used for it?"
    assert question_part(text) == "what blood tests are used for it?"
    assert question_part("what is melanoma? how is it treated?") == "what is melanoma? how is it treated?"
