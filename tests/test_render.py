"""Chat bubbles: urgent replies end in tap-to-call buttons built from the clinic's numbers; icons are drawings."""
from rag.answer.compose import Answer
from ui.render import Phones, answer_markdown, call_buttons, english_ui


def urgent(category: str) -> Answer:
    return Answer("q", "urgent", "Please get help now.", reason=category)


def test_a_crisis_reply_calls_or_texts_the_crisis_line_and_calls_the_emergency_number():
    shown = answer_markdown(urgent("crisis"), english_ui(), Phones("911", "988"))
    assert 'href="tel:988"' in shown and 'href="sms:988"' in shown and 'href="tel:911"' in shown
    assert "Call or text 988" in shown and "🚨" not in shown and "<svg" in shown


def test_the_clinics_numbers_are_used_and_the_care_team_comes_first_for_fever_on_treatment():
    phones = Phones("112", "116 123", "+44 20 7946 0000")
    fever = call_buttons("chemo_fever", english_ui(), phones)
    assert fever.index('href="tel:+442079460000"') < fever.index('href="tel:112"')
    assert "Call your care team" in fever and "Call 112" in fever
    assert 'href="tel:116123"' in call_buttons("crisis", english_ui(), phones)
    assert "care team" not in call_buttons("medical_emergency", english_ui(), Phones())


def test_phones_come_from_the_configuration(config):
    assert Phones.from_config(config) == Phones("911", "988", None)
    clinic = Phones.from_config(config.replace(emergency_number="999", care_team_phone="0800 123"))
    assert (clinic.emergency, clinic.team) == ("999", "0800 123")
