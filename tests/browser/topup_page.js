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
const { chromium } = require('playwright-core');
const readline = require('readline');

const cfg = JSON.parse(process.argv[2] || '{}');

function emit(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

// stdin lines, one at a time; null once stdin is closed (the test gave up).
const pending = [];
let waiter = null;
let stdinClosed = false;
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (l) => { if (waiter) { const w = waiter; waiter = null; w(l); } else pending.push(l); });
rl.on('close', () => { stdinClosed = true; if (waiter) { const w = waiter; waiter = null; w(null); } });
function nextLine() {
  if (pending.length) return Promise.resolve(pending.shift());
  if (stdinClosed) return Promise.resolve(null);
  return new Promise((resolve) => { waiter = resolve; });
}

// Installed before any page script runs: records every change of what is on screen.
function recorder() {
  window.__seen = [];
  const text = (id) => { const el = document.getElementById(id); return el ? el.textContent : null; };
  const snap = () => {
    const s = { conn: text('conn'), status: text('status'), amount: text('amount') };
    const last = window.__seen[window.__seen.length - 1];
    if (!last || last.conn !== s.conn || last.status !== s.status || last.amount !== s.amount) {
      s.t = Math.round(performance.now());
      window.__seen.push(s);
    }
  };
  document.addEventListener('DOMContentLoaded', () => {
    snap();
    new MutationObserver(snap).observe(document.body,
      { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

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

async function main() {
  const ctx = await chromium.launchPersistentContext(cfg.user_data_dir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    // The machine is offline: without these Chromium waits on network services at start.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 720, height: 640 },
    timeout: 30000,
  });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e && e.stack || e)));
    page.on('console', (m) => emit({ step: 'console', type: m.type(), text: m.text(), url: m.location().url }));
    let navigations = 0;
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });
    await page.addInitScript(recorder);
    await page.goto(cfg.url, { waitUntil: 'domcontentloaded', timeout: 15000 });

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
    emit({ step: 'ready', state: await page.evaluate(pageState), navigations });

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
    emit({ step: 'paid', ms: Date.now() - t0, state: await page.evaluate(pageState), navigations,
      page_errors: pageErrors });
    if (cfg.screenshot) await page.screenshot({ path: cfg.screenshot, fullPage: true });
  } finally {
    await ctx.close();
    emit({ step: 'done' });
  }
}

main().then(() => process.exit(0), (e) => {
  emit({ step: 'error', error: String(e && e.stack || e) });
  process.exit(1);
});
