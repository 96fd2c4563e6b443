'use strict';
/*
 * Drives Debian's Chromium (/usr/bin/chromium) through playwright-core for
 * tests/integration/test_browser.py; run by that test, not by hand.
 *
 *   node topup_page.js '{"mode": "topup"|"xss", "url": ..., ...}'
 *
 * Writes one JSON object per line to stdout; the test reads them as they come.
 * mode "topup": opens cfg.url, waits until #conn shows cfg.conn, #status PENDING and
 *   #amount cfg.amount_text, prints {"step":"ready"}, then waits for a line on stdin
 *   (the test posts the PayOS webhook meanwhile), waits up to cfg.paid_timeout_ms for
 *   #status PAID with #paid-at filled in, prints {"step":"paid"} (or "timeout"),
 *   takes cfg.screenshot if set and prints {"step":"done"}.
 * mode "xss": opens cfg.url, waits for #error to show and prints {"step":"xss"} with
 *   what the page made of the hostile tx_ref.
 * Every snapshot is what a user would read: the text of the elements on screen.
 */
const { cfg, emit, nextLine, recordSeen, run } = require('./browser');

function pageState() {
  const el = (id) => document.getElementById(id);
  const text = (id) => (el(id) ? el(id).textContent : null);
  return {
    conn: text('conn'), conn_class: el('conn') && el('conn').className,
    status: text('status'), status_class: el('status') && el('status').className,
    amount: text('amount'), tx_ref: text('tx-ref'), order_code: text('order-code'),
    created_at: text('created-at'), paid_at: text('paid-at'),
    error: el('error') && !el('error').hidden ? text('error') : null,
    title: document.title, marker: window.__marker || null, seen: window.__seen || [],
  };
}

run({ viewport: { width: 720, height: 640 }, init: [[recordSeen, ['conn', 'status', 'amount']]] },
  async (page, pageErrors, navigations) => {
    if (cfg.mode === 'xss') {
      await page.waitForFunction(() => {
        const e = document.getElementById('error');
        return e && !e.hidden && e.textContent;
      }, null, { timeout: 10000 });
      const r = await page.evaluate(() => ({
        tx_ref: document.getElementById('tx-ref').textContent,
        error: document.getElementById('error').textContent,
        conn: document.getElementById('conn').textContent,
        injected: document.querySelectorAll('main img, main script, main iframe, main b').length,
        xss: window.__xss || null,
      }));
      emit(Object.assign({ step: 'xss', page_errors: pageErrors }, r));
      return;
    }

    try {
      await page.waitForFunction(([conn, amount]) => {
        const t = (id) => document.getElementById(id).textContent;
        return t('conn') === conn && t('status') === 'PENDING' && t('amount') === amount;
      }, [cfg.conn, cfg.amount_text], { timeout: cfg.ready_timeout_ms || 15000 });
    } catch (e) {
      emit({ step: 'timeout', waiting_for: 'ready', state: await page.evaluate(pageState) });
      return;
    }
    // Anything that reloads the page would drop this marker.
    await page.evaluate(() => { window.__marker = 'same-page'; });
    emit({ step: 'ready', state: await page.evaluate(pageState), navigations: navigations() });

    if ((await nextLine()) === null) return;
    const t0 = Date.now();
    try {
      await page.waitForFunction(() => {
        const t = (id) => document.getElementById(id).textContent;
        return t('status') === 'PAID' && t('paid-at') !== '—' && t('paid-at') !== '';
      }, null, { timeout: cfg.paid_timeout_ms || 10000 });
    } catch (e) {
      emit({ step: 'timeout', waiting_for: 'paid', state: await page.evaluate(pageState) });
      return;
    }
    emit({ step: 'paid', ms: Date.now() - t0, state: await page.evaluate(pageState), navigations: navigations(),
      page_errors: pageErrors });
    if (cfg.screenshot) await page.screenshot({ path: cfg.screenshot, fullPage: true });
  });
