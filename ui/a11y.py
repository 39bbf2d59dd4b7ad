"""Accessibility settings shared by the patient and staff pages (WCAG 2.1 AA; checked by tests/test_accessibility.py).

Gradio's default theme draws white text on orange-500 (2.8:1), grey "subdued" and placeholder text on white (2.6:1)
and light visited links (3.7:1); this theme keeps its look with darker shades that pass 4.5:1, in light and dark mode."""
from __future__ import annotations

import gradio as gr

THEME = gr.themes.Default().set(
    button_primary_background_fill="*primary_700",  # white on #c2410c: 5.2:1
    button_primary_background_fill_dark="*primary_700",
    button_primary_background_fill_hover="*primary_800",
    button_primary_background_fill_hover_dark="*primary_800",
    color_accent="*primary_700",  # selected tab text, on white
    body_text_color_subdued="*neutral_600",  # footer, info text
    body_text_color_subdued_dark="*neutral_400",
    input_placeholder_color="*neutral_500",  # #71717a on white: 4.8:1
    input_placeholder_color_dark="*neutral_400",
    link_text_color_visited="*secondary_700",
    link_text_color_dark="*secondary_400",
    link_text_color_visited_dark="*secondary_400",
    link_text_color_hover_dark="*secondary_300",
    link_text_color_active_dark="*secondary_300",
    input_border_color_focus="*secondary_700",  # was secondary_300, 1.8:1 against white (also on the sign-in page)
    input_border_color_focus_dark="*secondary_400",
)

# A focus ring everyone can see (2.4.7): 3 px, dark blue on light pages, light blue on dark ones.
CSS = """
:root { --rag-focus: #1d4ed8; }
.dark { --rag-focus: #93c5fd; --color-accent: var(--primary-500); }  /* the theme has no color_accent_dark */
.gradio-container :focus-visible { outline: 3px solid var(--rag-focus) !important; outline-offset: 2px; }
.gradio-container a:focus-visible { border-radius: 2px; }
"""
# On a phone (320 px, or 400 % zoom) the one-line question box cut its placeholder in half: give it two lines there.
CSS += "@media (max-width: 480px) { #question textarea { min-height: 4.6em !important; } }\n"
# There, too, Gradio's 32 px page padding and the chat's 20 px bubble margins left answers a 170 px column (a word or
# two a line at 200 % text size): give the text the width.
# The page padding sits outside the element Gradio scopes `css` to, so it goes in the page's <head> (HEAD).
CSS += """@media (max-width: 480px) {
  #chat .message-row { margin-left: 2px !important; margin-right: 2px !important; max-width: 100% !important; }
}
"""
HEAD = "<style>@media (max-width: 480px) { .gradio-container .main.app { padding-left: 8px; padding-right: 8px; } }</style>"

# Gradio's sign-in page is not built from our Blocks (no title, css, js or head of ours reaches it): it has no <title>
# (WCAG 2.4.2), no main landmark or level-one heading, and its inputs lack autocomplete purposes (1.3.5).
# LoginPageFixes adds them to that one HTML page, recognised by the `"auth_required":true` config Gradio embeds in it.
LOGIN_HEAD = """<title>Sign in — Staff console — cancer information assistant</title>
<style>""" + CSS + """</style>
<script>
(() => {
  const fix = () => {
    const pw = document.querySelector("input[type=password]");
    const heading = document.querySelector(".wrap h2");
    if (!pw || !heading) return false;
    heading.closest(".wrap").setAttribute("role", "main");
    heading.setAttribute("role", "heading");
    heading.setAttribute("aria-level", "1");
    pw.setAttribute("autocomplete", "current-password");
    const user = document.querySelector("input[type=text]");
    if (user) user.setAttribute("autocomplete", "username");
    return true;
  };
  const watch = new MutationObserver(() => fix() && watch.disconnect());
  document.addEventListener("DOMContentLoaded", () => fix() || watch.observe(document.body, {childList: true, subtree: true}));
})();
</script>
"""


class LoginPageFixes:
    """ASGI middleware: puts LOGIN_HEAD into the sign-in page Gradio serves at GET `path`/ (no other response)."""

    def __init__(self, app, path: str = "/staff") -> None:
        self.app, self.path = app, path.rstrip("/")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"].rstrip("/") != self.path:
            return await self.app(scope, receive, send)
        start: dict = {}
        chunks: list[bytes] = []

        async def patched(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if b'"auth_required":true' in body and b"<title>" not in body:
                body = body.replace(b"</head>", LOGIN_HEAD.encode() + b"</head>", 1)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": headers + [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, patched)
