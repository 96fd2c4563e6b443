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
 * mode "gap": streams fail as a hostile proxy makes them fail, cfg.stream being
 *   "abort" (every stream request refused from the start), "die" (the first stream is
 *   the real one: {"step":"stream-open"} is printed when it opens, the test kills the
 *   stream responder, and every later stream request is refused) or "hang" (stream
 *   requests never answered: onopen never fires). The first poll the page then makes is
 *   held, {"step":"gap"} printed (once the page has read the status too), and released
 *   when a line comes on stdin (the test confirms the payment meanwhile: in the gap
 *   between the page's state read and its first poll). Then as "topup" from "paid".
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

// Installs the failing stream and the held first poll of mode "gap".
async function gapRoutes(page) {
  let streams = 0, statusRead = false, released = null;
  const held = new Promise((resolve) => { released = resolve; });
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/topup/status') statusRead = true;
    if (u.pathname === '/api/events/stream' && r.status() === 200 && cfg.stream === 'die') emit({ step: 'stream-open' });
  });
  await page.route((u) => u.pathname === '/api/events/stream', (route) => {
    streams++;
    if (cfg.stream === 'hang') return;                     // never answered
    if (cfg.stream === 'die' && streams === 1) return route.continue();
    return route.abort('connectionreset');
  });
  let polls = 0;
  await page.route((u) => u.pathname === '/api/events', async (route) => {
    if (++polls === 1) {
      const t0 = Date.now();
      while (!statusRead && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 20));
      emit({ step: 'gap', status_read: statusRead, stream_requests: streams });
      nextLine().then(released);
      await held;
    }
    return route.continue();
  });
}

run({ viewport: { width: 720, height: 640 }, init: [[recordSeen, ['conn', 'status', 'amount']]],
  routes: cfg.mode === 'gap' ? gapRoutes : null },
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

    if (cfg.mode === 'gap') {
      const t0 = Date.now();
      try {
        await page.waitForFunction(([conn]) => {
          const t = (id) => document.getElementById(id).textContent;
          return t('status') === 'PAID' && t('paid-at') !== '—' && t('paid-at') !== '' && t('conn') === conn;
        }, [cfg.conn], { timeout: cfg.paid_timeout_ms || 30000 });
      } catch (e) {
        emit({ step: 'timeout', waiting_for: 'paid', state: await page.evaluate(pageState) });
        return;
      }
      emit({ step: 'paid', ms: Date.now() - t0, state: await page.evaluate(pageState), navigations: navigations(),
        page_errors: pageErrors });
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
