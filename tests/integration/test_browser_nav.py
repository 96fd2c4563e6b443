"""What every page shares, in a real browser (tests/browser/nav_page.js): the nav and the
access-token form come from one place (www/page.js), so no page's nav lacks a page (the CRM
inbox link was missing from the live, owner and top-up pages) and the sign-in forms match.
Without JavaScript a page's nav holds one link to the index, which lists every page. The
pages' CSP (no inline script or style) holds: Chromium reports no violation."""
import glob
import os
import re

from browser_helper import BROWSER_DIR, Browser, assert_never_parses_html
from harness import ROOT

NAV = [{"text": "Top-up", "path": "/topup.html"}, {"text": "Live room", "path": "/live.html"},
       {"text": "Owner console", "path": "/owner.html"}, {"text": "CRM inbox", "path": "/inbox.html"},
       {"text": "AI chat", "path": "/chat.html"}]
PAGES = ["/", "/topup.html", "/live.html", "/live.html?room=no-such-room", "/owner.html", "/inbox.html", "/chat.html"]
FIELD = {"tag": "TEXTAREA", "placeholder": "eyJhbGciOiJIUzI1NiIs...", "autocomplete": "off", "spellcheck": "false"}
BUTTONS = [["jwt-save", "submit", "Use this token"], ["jwt-clear", "button", "Forget it"]]


class NavBrowser(Browser):
    script = os.path.join(BROWSER_DIR, "nav_page.js")


def test_browser_every_page_shows_the_same_nav_and_sign_in(env):
    a = env.instance()
    urls = ["http://127.0.0.1:%d%s" % (a.port, p) for p in PAGES]
    b = NavBrowser(env.tmp, url=urls[0], pages=urls)
    try:
        seen = {}
        for path in PAGES:
            st = b.expect("page", 45)
            assert st["path"] == path and st["page_errors"] == [], st
            seen[path] = st
        b.expect("done", 20)
    finally:
        b.close()

    for path, st in seen.items():
        # the same links everywhere, the inbox among them; the page itself marked as current
        assert [{"text": n["text"], "path": n["path"]} for n in st["nav"]] == NAV, (path, st["nav"])
        current = [n["path"] for n in st["nav"] if n["current"] == "page"]
        assert current == ([] if path == "/" else [path.split("?")[0]]), (path, st["nav"])

    # one token field, the same wherever a page asks for a JWT
    for path, form, label in [("/topup.html", "init-form", "Your access token (JWT)"),
                              ("/live.html?room=no-such-room", "token-form", "Paste your JWT"),
                              ("/owner.html", "token-form", "Your owner access token (JWT)"),
                              ("/inbox.html", "token-form", "Your agent access token (JWT)"),
                              ("/chat.html", "token-form", "Your access token (JWT)")]:
        field = seen[path]["field"]
        assert field == dict(FIELD, label=label, form=form), (path, field)
    for path in ("/owner.html", "/inbox.html"):
        assert seen[path]["sign_in"] == {"card": True, "whoami": "Not signed in: paste an access token with role %s."
                                         % ("owner" if path == "/owner.html" else "agent"), "buttons": BUTTONS}, seen[path]
    assert seen["/chat.html"]["sign_in"] == {"card": True, "whoami": "Not signed in: paste your access token.",
                                             "buttons": BUTTONS}, seen["/chat.html"]
    assert seen["/live.html?room=no-such-room"]["sign_in"] == {"card": False, "whoami": None, "buttons": BUTTONS}
    assert seen["/"]["field"] is None and seen["/live.html"]["field"] is None

    csp = [m for m in b.console if "Content Security Policy" in m.get("text", "")]
    assert csp == [], csp


def test_pages_fall_back_to_a_link_to_the_index_without_javascript(env):
    pages = sorted(glob.glob(os.path.join(ROOT, "www", "*.html")))
    assert len(pages) == 6, pages
    for name in pages:
        with open(name) as f:
            html = f.read()
        navs = re.findall(r"<nav>(.*?)</nav>", html, re.S)
        assert navs == ['<a href="./">All pages</a>'], (name, navs)
        assert '<script src="page.js"></script>' in html, name
        assert "<textarea id=\"jwt\"" not in html, name          # page.js builds the token field
    with open(os.path.join(ROOT, "www", "index.html")) as f:
        index = f.read()
    for link in NAV:                                            # what the fallback leads to
        assert '<a href="%s">%s</a>' % (link["path"].lstrip("/"), link["text"]) in index, link


def test_no_page_script_parses_html(env):
    scripts = [os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "www", "*.js"))]
    assert {"page.js", "commerce.js", "pulse.js", "live.js"} <= set(scripts), scripts
    assert_never_parses_html(*scripts)
