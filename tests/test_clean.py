"""Markup is removed before any decision, the words inside still count; a message with nothing to read is noise."""
import pytest

from rag.message.clean import clean, fold, is_noise


@pytest.mark.parametrize("typed, words", [
    ("<p>what is <b>melanoma</b>?</p>", "what is melanoma ?"),
    ("<div onclick='x()'>how is kidney cancer treated</div>", "how is kidney cancer treated"),
    ("```symptoms of myeloma```", "symptoms of myeloma"),
    ("see [this page](http://example.org/x) about colon cancer stages", "see this page about colon cancer stages"),
    ("**stage 4** colon cancer https://example.org/a?b=c treatment", "stage 4 colon cancer treatment"),
    ("is it &quot;normal&quot; to feel tired", 'is it "normal" to feel tired'),
])
def test_markup_is_removed_and_the_question_words_are_kept(typed, words):
    message = clean(typed)
    assert message.text == words and message.had_markup in (True, False)


def test_script_bodies_and_tags_leave_nothing_to_read():
    assert clean("<img src=x onerror=alert(1)>").empty
    assert clean("<script>alert('hi')</script>").empty


def test_plain_text_is_left_alone():
    message = clean("my mum has  ALL,   how long is the chemo?")
    assert message.text == "my mum has ALL, how long is the chemo?" and not message.had_markup


@pytest.mark.parametrize("typed", ["?????", "...", "123 456", "😀😀😀", "!!!!", "qwzx vbnmk", "asdfghjkl;"])
def test_punctuation_digits_emoji_and_keyboard_mash_are_noise(typed):
    known = {"what", "cancer", "hello", "is"}.__contains__
    assert is_noise(typed, known)


@pytest.mark.parametrize("typed", ["hello", "what is cancer", "cancer??"])
def test_a_message_with_a_known_word_is_not_noise(typed):
    assert not is_noise(typed, {"what", "cancer", "hello", "is"}.__contains__)


def test_accents_and_case_are_folded():
    assert fold("Cáncer de RIÑÓN") == "cancer de rinon"
