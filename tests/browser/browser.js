'use strict';
/*
 * What the page drivers share: their config (argv[2], JSON), the JSON-lines protocol with
 * the Python test (emit, nextLine, commands), a recorder of what the page showed, and
 * Chromium's launch and cleanup (run).
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

// An init script (runs in the page, before any page script): appends to window.__seen the
// text of the elements `ids` each time any of them changes, with t = ms since navigation.
function recordSeen(ids) {
  window.__seen = [];
  const snap = () => {
    const s = {};
    ids.forEach((id) => { const el = document.getElementById(id); s[id] = el ? el.textContent : null; });
    const last = window.__seen[window.__seen.length - 1];
    if (!last || ids.some((id) => last[id] !== s[id])) {
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

// The test's commands, a JSON object a line, each handed to handle(cmd) (async; a false
// answer stops the run), until stdin closes or says "end" (after a screenshot to
// cfg.screenshot, when given).
async function commands(page, handle) {
  for (;;) {
    const line = await nextLine();
    if (line === null) return;
    if (line === 'end') {
      if (cfg.screenshot) await page.screenshot({ path: cfg.screenshot, fullPage: true });
      return;
    }
    if (await handle(JSON.parse(line)) === false) return;
  }
}

/*
 * Launches Chromium on the profile cfg.user_data_dir, installs the init scripts
 * (init: [[fn, arg], ...]) and routes (routes: async fn(page), or null), opens cfg.url and runs body(page, pageErrors, navigations),
 * where navigations() counts the main frame's navigations so far. Whatever happens, the
 * browser is closed, {"step":"done"} printed, and the process exits (1 on an exception).
 */
function run({ viewport, init, routes }, body) {
  async function main() {
    const ctx = await chromium.launchPersistentContext(cfg.user_data_dir, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      // The machine is offline: without these Chromium waits on network services at start.
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport,
      timeout: 30000,
    });
    try {
      const page = ctx.pages()[0] || await ctx.newPage();
      const pageErrors = [];
      page.on('pageerror', (e) => pageErrors.push(String(e && e.stack || e)));
      page.on('console', (m) => emit({ step: 'console', type: m.type(), text: m.text(), url: m.location().url }));
      page.on('dialog', (d) => d.accept());      // confirm() would otherwise block the page
      let navigations = 0;
      page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });
      for (const [fn, arg] of init || []) await page.addInitScript(fn, arg);
      if (routes) await routes(page);
      await page.goto(cfg.url, { waitUntil: 'domcontentloaded', timeout: 15000 });
      await body(page, pageErrors, () => navigations);
    } finally {
      await ctx.close();
      emit({ step: 'done' });
    }
  }
  main().then(() => process.exit(0), (e) => {
    emit({ step: 'error', error: String(e && e.stack || e) });
    process.exit(1);
  });
}

module.exports = { cfg, commands, emit, nextLine, recordSeen, run };
