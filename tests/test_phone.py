"""The patient page on phones and tablets (Chromium's mobile emulation: touch, mobile viewport): the question box
full width under the conversation, compact feedback, one-tap calls in an urgent reply, sources big enough to tap,
no sideways scrolling, axe-core clean, and the conversation printable to take to an appointment."""
import pytest

from test_accessibility import SOURCE_LINK, axe_report
from test_browser import CHROMIUM, SHOTS, ask, browser  # noqa: F401  (browser: the module's Chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")]
SIZES = [(360, 740), (390, 844), (768, 1024)]
CONTEXT = "my mom is 67 and just got diagnosed with multiple myeloma, what are the treatment options"
EMERGENCY = "my dad can't breathe and his lips are blue"
CRISIS = "I want to kill myself"


@pytest.fixture()
def phone(browser, live_app):  # noqa: F811
    contexts = []

    def open_(width: int, height: int):
        contexts.append(browser.new_context(viewport={"width": width, "height": height}, is_mobile=True,
                                            has_touch=True, device_scale_factor=2))
        page = contexts[-1].new_page()
        page.goto(live_app[0] + "/")
        page.locator("#question textarea").wait_for()
        return page

    yield open_
    for context in contexts:
        context.close()


def box(locator) -> dict:
    locator.scroll_into_view_if_needed()
    found = locator.bounding_box()
    assert found, locator
    return found


def top(locator) -> float:
    """Distance from the top of the page (not of the viewport, which scrolls)."""
    return locator.evaluate("e => e.getBoundingClientRect().top + window.scrollY")


@pytest.mark.parametrize("width,height", SIZES)
def test_the_page_fits_the_phone_and_puts_the_question_box_first(phone, width, height):
    page = phone(width, height)
    answer = ask(page, CONTEXT, 1)
    answer.locator(SOURCE_LINK).first.wait_for()
    urgent = ask(page, EMERGENCY, 2)
    urgent.locator(".rag-urgent").wait_for()
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1, \
        "the page scrolls sideways"
    question, ask_button = page.locator("#question textarea"), page.locator("#ask-button")
    feedback = page.locator("#feedback")
    # full width under the conversation (on a phone; beside Ask on a tablet), above the feedback panel
    q = box(question)
    assert q["width"] >= (0.85 if width < 600 else 0.6) * width
    assert top(page.locator("#chat")) < top(question) < top(feedback)
    assert box(ask_button)["height"] >= 40
    # feedback compact: its question reads on one or two lines, never a letter-wide column
    prompt = box(page.locator("#feedback-question"))
    assert prompt["width"] >= 150 and prompt["height"] <= 70
    for name in ("Yes, helpful", "No, not helpful"):
        assert box(page.get_by_role("button", name=name))["width"] >= 80
    assert not page.locator("#feedback-comment").is_visible(), "the comment box waits for 'No, not helpful'"
    # the sources of the long answer: links at least 24 px to tap, titles wrapping inside the screen
    for i in range(answer.locator(SOURCE_LINK).count()):
        link = box(answer.locator(SOURCE_LINK).nth(i))
        assert link["height"] >= 24 and link["width"] >= 24 and link["x"] + link["width"] <= width + 1
    # the urgent reply's numbers are buttons that call
    call = urgent.locator("a[href='tel:911']")
    assert call.inner_text().strip() == "Call 911"
    assert box(call)["height"] >= 44 and box(call)["width"] >= 44
    call.click(trial=True)  # nothing covers it
    wcag, serious = axe_report(page)
    assert wcag == [] and serious == [], wcag + serious
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"phone-{width}x{height}.png"), full_page=True)


def test_the_comment_box_opens_after_not_helpful_is_tapped(phone):
    page = phone(390, 844)
    ask(page, "what is melanoma?", 1).locator(SOURCE_LINK).first.wait_for()
    page.get_by_role("button", name="No, not helpful").tap()
    page.locator("#feedback-status").get_by_text("rating was saved").wait_for(timeout=30_000)
    comment = page.locator("#feedback-comment textarea")
    comment.wait_for()
    assert box(comment)["width"] >= 300
    page.get_by_role("button", name="Yes, helpful").tap()
    comment.wait_for(state="hidden")


def test_a_crisis_reply_offers_to_call_or_text_the_crisis_line_and_to_call_the_emergency_number(phone):
    page = phone(390, 844)
    reply = ask(page, CRISIS, 1)
    reply.locator(".rag-urgent").wait_for()
    links = {a.get_attribute("href"): a.inner_text().strip() for a in reply.locator(".rag-calls a").all()}
    assert links == {"tel:988": "Call or text 988", "sms:988": "Text 988", "tel:911": "Call 911"}
    # icons are drawings, not emoji that need a font
    assert reply.locator(".rag-urgent svg").count() == 1 and "🚨" not in reply.inner_text()
    page.screenshot(path=str(SHOTS / "phone-crisis-390x844.png"), full_page=True)


def test_keyboard_order_is_the_question_box_then_ask_then_the_conversation_after_it(phone):
    """Tab from the question box reaches Ask next; Shift+Tab from the box goes back into the conversation (the
    source link), and the feedback buttons come after Ask."""
    page = phone(390, 844)
    ask(page, "what is daratumumab?", 1).locator(SOURCE_LINK).first.wait_for()
    page.locator("#question textarea").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "ask-button"
    order = page.evaluate("""() => {
      const q = document.querySelector('#question textarea'), a = document.querySelector('#ask-button');
      const link = document.querySelector('#chat a[href^="https://www.cancer.gov/"]');
      const no = [...document.querySelectorAll('button')].find(b => b.textContent.includes('No, not helpful'));
      const before = (x, y) => !!(x.compareDocumentPosition(y) & Node.DOCUMENT_POSITION_FOLLOWING);
      return [before(link, q), before(q, a), before(a, no)];
    }""")
    assert order == [True, True, True]


def test_the_conversation_prints_as_a_clean_page_with_quotes_full_addresses_and_the_date(phone, live_app):
    page = phone(390, 844)
    ask(page, "what is daratumumab?", 1).locator(SOURCE_LINK).first.wait_for()
    ask(page, CRISIS, 2).locator(".rag-urgent").wait_for()
    quote = page.locator("#chat .rag-quote").first.inner_text().strip()
    page.evaluate("() => { window.print = () => { window.printed = (window.printed || 0) + 1; }; }")  # no dialog
    page.get_by_role("button", name="Save or print this conversation").tap()
    page.wait_for_function("window.printed === 1")
    printed = page.locator("#rag-print")
    text = printed.text_content()
    assert "Information only, not medical advice. Bring these questions to your care team." in text
    assert "what is daratumumab?" in text and "I want to kill myself" in text and quote[:60] in text
    assert "https://www.cancer.gov/" in text  # the full address, not a link's title
    import datetime as dt
    assert dt.date.today().isoformat() in text or live_app[1].today in text
    page.emulate_media(media="print")
    assert printed.is_visible() and not page.locator("#chat").is_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
    (SHOTS / "conversation-print.pdf").write_bytes(pdf)
    page.screenshot(path=str(SHOTS / "phone-print-390x844.png"), full_page=True)
