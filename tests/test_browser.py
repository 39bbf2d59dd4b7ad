"""A real browser (Debian's Chromium driven by Playwright) against the live app: chat, sources, staff login, XSS."""
import shutil

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")]
SHOTS = ROOT / "artifacts" / "screenshots"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                    "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 1400})
    pg = context.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    context.close()


def ask(page, question: str, count: int):
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")
    bot = page.locator("#chat [data-testid='bot']")
    bot.nth(count - 1).wait_for(timeout=30_000)
    return bot.nth(count - 1)


def test_a_patient_asks_and_gets_an_answer_with_a_working_source_link(page, live_app):
    url, _ = live_app
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(url + "/")
    page.get_by_text("not medical advice").wait_for()
    answer = ask(page, "what is daratumumab?", 1)
    answer.get_by_text("Sources").wait_for()
    link = answer.locator("a[href^='https://www.cancer.gov/']").first
    assert "Daratumumab" in link.inner_text()
    assert link.get_attribute("target") == "_blank"
    urgent = ask(page, "my dad can't breathe and his lips are blue", 2)
    urgent.locator(".rag-urgent").wait_for()
    page.screenshot(path=str(SHOTS / "patient-chat.png"), full_page=True)


def test_markup_in_questions_and_documents_shows_as_text_and_runs_nothing(page, live_app):
    url, _ = live_app
    page.goto(url + "/")
    page.get_by_text("not medical advice").wait_for()
    ask(page, XSS, 1)
    page.locator("#chat").get_by_text(XSS).wait_for()
    reply = ask(page, "what does ondansetron do for nausea from chemotherapy", 2)
    reply.get_by_text("<script>alert('doc')</script>", exact=False).first.wait_for()
    assert page.locator("#chat img[src='x']").count() == 0
    assert page.locator("#chat script").count() == 0
    page.screenshot(path=str(SHOTS / "patient-xss.png"), full_page=True)
    assert page.dialogs == []


def log_in_as_staff(page, url: str, cfg) -> None:
    page.goto(url + "/staff/")
    page.locator("input[type='text'], input[name='username']").first.fill(cfg.staff_user)
    page.locator("input[type='password']").fill(cfg.staff_password)
    page.get_by_role("button", name="Login").click()
    page.get_by_text("Staff console").first.wait_for(timeout=30_000)


def test_staff_log_in_and_inspect_what_an_answer_cited(page, live_app):
    url, cfg = live_app
    log_in_as_staff(page, url, cfg)
    page.get_by_role("tab", name="Audit log").click()
    page.locator("#audit").get_by_text(XSS).first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="Answer inspector").click()
    page.locator("#pick-answer input").click()
    page.get_by_role("option").filter(has_text="daratumumab").first.click()
    page.locator("#inspector mark").first.wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "staff-inspector.png"), full_page=True)
    assert page.dialogs == []


def test_a_patient_rates_an_answer_by_keyboard_and_staff_open_it_from_the_review_queue(page, live_app):
    url, cfg = live_app
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(url + "/")
    page.get_by_text("not medical advice").wait_for()
    ask(page, "what is daratumumab?", 1)
    ask(page, "how is colon cancer treated", 2).get_by_text("Sources").wait_for()  # the rating is for this one
    no = page.get_by_role("button", name="No, not helpful")
    no.focus()
    page.keyboard.press("Enter")
    status = page.locator("#feedback-status")
    status.get_by_text("rating was saved").wait_for(timeout=30_000)
    page.get_by_label("Comment (optional").fill("It did not say how long the treatment lasts")
    page.get_by_role("button", name="Send comment").focus()
    page.keyboard.press("Enter")
    status.get_by_text("rating and comment were saved").wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "patient-feedback.png"), full_page=True)

    log_in_as_staff(page, url, cfg)  # the review queue is the first tab
    row = page.locator("#review-queue").get_by_text("how long the treatment lasts").filter(visible=True)
    row.wait_for(timeout=30_000)
    row.click()
    inspector = page.locator("#queue-inspector")
    inspector.get_by_text("how is colon cancer treated").wait_for(timeout=30_000)
    assert "not helpful" in inspector.inner_text() and inspector.locator("mark").count() > 0
    page.screenshot(path=str(SHOTS / "staff-review-queue.png"), full_page=True)
    assert page.dialogs == []


def test_a_patient_can_rate_an_earlier_answer_with_the_thumbs_under_it(page, live_app):
    from rag.store.audit import AuditLog

    url, cfg = live_app
    page.goto(url + "/")
    page.get_by_text("not medical advice").wait_for()
    first = ask(page, "what are the symptoms of melanoma?", 1)
    first.get_by_text("Sources").wait_for()
    ask(page, "what is kidney cancer?", 2).get_by_text("Sources").wait_for()
    thumbs_down = page.locator("#chat").get_by_role("button", name="Dislike")
    assert thumbs_down.count() == 2  # one under each answer
    thumbs_down.first.focus()
    page.keyboard.press("Enter")
    page.locator("#feedback-status").get_by_text("rating was saved").wait_for(timeout=30_000)
    rated = {e["question"]: e.get("feedback") for e in AuditLog(cfg.audit_log).entries()}
    assert rated["what are the symptoms of melanoma?"]["helpful"] is False  # the earlier answer, not the latest
    assert rated["what is kidney cancer?"] is None
