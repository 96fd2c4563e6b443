'use strict';
/*
 * Drives Debian's Chromium through playwright-core for tests/integration/test_browser_nav.py;
 * run by that test, not by hand.
 *
 *   node nav_page.js '{"url": ..., "pages": [url, ...], "user_data_dir": ...}'
 *
 * Opens each of cfg.pages in turn (cfg.url first) and prints {"step":"page"} with what a user
 * sees in its header nav (each link's text, path and whether it is marked as the current page)
 * and in its access-token field and sign-in form, if it has them. Then {"step":"done"}.
 */
const { cfg, emit, run } = require('./browser');

function shown() {
  const form = document.getElementById('token-form');
  const field = document.getElementById('jwt');
  const label = field && document.querySelector('label[for="jwt"]');
  return {
    path: location.pathname + location.search,
    nav: Array.from(document.querySelectorAll('header nav a')).map((a) => ({
      text: a.textContent, path: new URL(a.href).pathname, current: a.getAttribute('aria-current'),
    })),
    field: field ? {
      label: label ? label.textContent : null, tag: field.tagName, placeholder: field.placeholder,
      autocomplete: field.getAttribute('autocomplete'), spellcheck: field.getAttribute('spellcheck'),
      form: field.form ? field.form.id : null,
    } : null,
    sign_in: form ? {
      card: form.classList.contains('card'), whoami: document.getElementById('whoami') ? document.getElementById('whoami').textContent : null,
      buttons: Array.from(form.querySelectorAll('button')).map((b) => [b.id, b.type, b.textContent]),
    } : null,
  };
}

run({ viewport: { width: 900, height: 700 } }, async (page, pageErrors) => {
  for (let i = 0; i < cfg.pages.length; i++) {
    if (i > 0) await page.goto(cfg.pages[i], { waitUntil: 'domcontentloaded', timeout: 15000 });
    try {
      await page.waitForFunction(() => document.querySelectorAll('header nav a').length > 1, null, { timeout: 10000 });
    } catch (e) { /* reported as what the page shows */ }
    emit(Object.assign({ step: 'page', page_errors: pageErrors.slice() }, await page.evaluate(shown)));
  }
});
