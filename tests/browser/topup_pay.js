'use strict';
/*
 * Drives Debian's Chromium through playwright-core for tests/integration/test_browser_pay.py:
 * the top-up page's QR and pay button; run by that test, not by hand.
 *
 *   node topup_pay.js '{"url": ...}'
 *
 * Opens cfg.url, waits until #status is PENDING with the pay box shown and its QR drawn, and
 * prints {"step":"ready","state":...}. Then takes commands, a JSON object a line:
 *   {"goto": URL}      opens URL in the same tab and, as at the start, prints {"step":"ready"}
 *   {"click": ID}      clicks element ID, prints {"step":"clicked"}
 *   {"shot": PATH}     saves a screenshot of the page to PATH, prints {"step":"shot"}
 *   {"wait": STATUS}   waits up to 10 s for #status STATUS, prints {"step":"status","state":...}
 *                      (or {"step":"timeout"})
 * A state is what a user sees: the status, whether the pay box, the PayOS link, the dev
 * button and the "back from PayOS" note show, the link's href, the text the QR encodes and
 * how many of its pixels are dark.
 */
const { cfg, commands, emit, run } = require('./browser');

function payState() {
  const el = (id) => document.getElementById(id);
  const shown = (id) => !!el(id) && !el(id).hidden;
  const c = el('qr');
  let dark = 0;
  if (c && c.width > 0) {
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < px.length; i += 4) if (px[i] < 128) dark++;
  }
  return {
    status: el('status').textContent, paid_at: el('paid-at').textContent,
    pay: shown('pay'), pay_link: shown('pay-link'), pay_link_href: el('pay-link').getAttribute('href'),
    pay_dev: shown('pay-dev'), returned: shown('returned'),
    qr_text: c ? c.getAttribute('data-text') : null, qr_size: c ? c.width : 0, qr_dark: dark,
    error: shown('error') ? el('error').textContent : null,
    pay_error: shown('pay-error') ? el('pay-error').textContent : null,
  };
}

// Waits for a PENDING top-up with its pay box and QR; prints "ready" (true) or "timeout".
async function ready(page, pageErrors, navigations) {
  try {
    await page.waitForFunction(() => {
      const el = (id) => document.getElementById(id);
      return el('status').textContent === 'PENDING' && !el('pay').hidden && el('qr').getAttribute('data-text');
    }, null, { timeout: 15000 });
  } catch (e) {
    emit({ step: 'timeout', waiting_for: 'ready', state: await page.evaluate(payState) });
    return false;
  }
  emit({ step: 'ready', state: await page.evaluate(payState), navigations: navigations(), page_errors: pageErrors });
  return true;
}

run({ viewport: { width: 720, height: 900 } }, async (page, pageErrors, navigations) => {
  if (!await ready(page, pageErrors, navigations)) return;
  await commands(page, async (cmd) => {
    if (cmd.goto) {
      await page.goto(cmd.goto, { waitUntil: 'domcontentloaded', timeout: 15000 });
      return ready(page, pageErrors, navigations);
    }
    if (cmd.shot) {
      await page.screenshot({ path: cmd.shot, fullPage: true });
      emit({ step: 'shot' });
      return true;
    }
    if (cmd.click) {
      await page.click('#' + cmd.click);
      emit({ step: 'clicked' });
      return true;
    }
    try {
      await page.waitForFunction((want) => document.getElementById('status').textContent === want, cmd.wait,
        { timeout: 10000 });
    } catch (e) {
      emit({ step: 'timeout', waiting_for: cmd.wait, state: await page.evaluate(payState) });
      return false;
    }
    emit({ step: 'status', state: await page.evaluate(payState), navigations: navigations(),
      page_errors: pageErrors });
    return true;
  });
});
