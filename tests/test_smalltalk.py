"""Small talk and noise get their own fixed reply, in the patient's language, and never an emergency reply."""
import pytest


@pytest.mark.parametrize("message, kind", [
    ("hi", "greeting"), ("hello there", "greeting"), ("good evening", "greeting"),
    ("thanks a lot", "thanks"), ("thank you, that was useful", "thanks"),
    ("bye for now", "goodbye"),
    ("who am i talking to", "who_are_you"), ("are you a real person?", "who_are_you"),
    ("are you a doctor", "are_you_doctor"),
])
def test_small_talk_gets_its_own_reply(engine, message, kind):
    ans = engine.ask(message)
    assert ans.status == "no_answer" and ans.reason == f"small_talk:{kind}", (ans.reason, ans.safety)
    assert ans.answer == engine.replies[kind] and not ans.citations


@pytest.mark.parametrize("message", ["?????", "asdfghjkl;", "<img src=x onerror=alert(1)>", "😀😀", "....", "jjjjjjj"])
def test_junk_is_asked_to_type_a_question_never_alarmed(engine, message):
    ans = engine.ask(message)
    assert ans.status != "urgent"
    assert ans.reason == "small_talk:junk" and "type your question" in ans.answer and "911" in ans.answer


def test_a_greeting_with_a_question_is_answered(engine):
    ans = engine.ask("hi there, what is multiple myeloma?")
    assert ans.status == "answered" and ans.citations


def test_markup_around_a_question_is_answered_from_the_words_inside(engine):
    ans = engine.ask("<b>what are the symptoms of melanoma</b>")
    assert ans.status == "answered" and "melanoma" in ans.citations[0].doc_id


@pytest.mark.parametrize("message, kind", [("hola", "greeting"), ("muchas gracias", "thanks"),
                                           ("¿eres médico?", "are_you_doctor")])
def test_spanish_small_talk_is_answered_in_spanish(engine, message, kind):
    ans = engine.ask(message)
    assert ans.reason == f"small_talk:{kind}" and ans.language == "es"
    assert ans.answer == engine.catalog.get("es")[kind]
