'use strict';
/*
 * Drives Debian's Chromium through playwright-core for the CRM inbox test in
 * tests/integration/test_browser_live.py; run by that test, not by hand.
 *
 *   node inbox_page.js '{"url": ".../inbox.html", "jwt": ..., "user_data_dir": ...}'
 *
 * Signs in with cfg.jwt, waits until #conn is live and prints {"step":"ready"}. Then, for
 * each command line on stdin (JSON): {"wait_conv": name} waits until the conversation list
 * shows that customer and opens it; {"wait_text": t} waits until the open thread shows a
 * message with text t; {"reply": t} sends t as the agent's answer; {"status": s} picks s in
 * the status box; {"wait_status": s} waits until an agent's answer shows status s (its
 * .msg-status text starts with s); {"status_held": s} picks s in the status box but holds the
 * PATCH's answer: once the page shows s (from the change's own event) it prints
 * {"step":"held"} and waits for a line on stdin, then waits until the page shows OPEN again
 * (the test reopens the conversation meanwhile), lets the held answer land, and reports the
 * state a second later. After each it prints {"step": <command>, "state": ...}, or "timeout".
 * The line "end" takes cfg.screenshot, if set, and ends.
 */
const { cfg, commands, emit, nextLine, run } = require('./browser');

function inboxState() {
  const texts = (sel) => Array.from(document.querySelectorAll(sel)).map((e) => e.textContent);
  return {
    conn: document.getElementById('conn').textContent,
    convs: texts('#convs .room-title'), badges: texts('#convs .badge'),
    messages: texts('#messages .chat-msg'), statuses: texts('#messages .msg-status'), customers: texts('#customers .room-title'),
    thread: document.getElementById('thread').hidden ? null : document.getElementById('thread-title').textContent,
    error: document.getElementById('inbox-error').hidden ? null : document.getElementById('inbox-error').textContent,
    marker: window.__marker || null,
  };
}

run({ viewport: { width: 900, height: 800 } }, async (page, pageErrors, navigations) => {
  const wait = async (name, fn, arg) => {
    try {
      await page.waitForFunction(fn, arg, { timeout: 10000 });
      return true;
    } catch (e) {
      emit({ step: 'timeout', waiting_for: name, state: await page.evaluate(inboxState), page_errors: pageErrors });
      return false;
    }
  };
  await page.fill('#jwt', cfg.jwt);
  await page.click('#jwt-save');
  if (!await wait('live', () => document.getElementById('conn').textContent === 'live')) return;
  await page.evaluate(() => { window.__marker = 'same-page'; });
  emit({ step: 'ready', state: await page.evaluate(inboxState) });
  await commands(page, async (cmd) => {
    let ok = true;
    if (cmd.wait_conv) {
      ok = await wait('conv', (n) => Array.from(document.querySelectorAll('#convs .room-title'))
        .some((e) => e.textContent === n), cmd.wait_conv);
      if (ok) {
        await page.click('#convs li:has(.room-title:text-is("' + cmd.wait_conv + '")) button');
        ok = await wait('thread', () => !document.getElementById('thread').hidden);
      }
    } else if (cmd.wait_text) {
      ok = await wait('text', (t) => Array.from(document.querySelectorAll('#messages .chat-msg'))
        .some((e) => e.textContent.indexOf(t) >= 0), cmd.wait_text);
    } else if (cmd.reply) {
      await page.fill('#reply', cmd.reply);
      await page.click('#reply-send');
      ok = await wait('sent', (t) => Array.from(document.querySelectorAll('#messages .chat-msg'))
        .some((e) => e.textContent.indexOf(t) >= 0), cmd.reply);
    } else if (cmd.wait_status) {
      ok = await wait('message status', (s) => Array.from(document.querySelectorAll('#messages .msg-status'))
        .some((e) => e.textContent.indexOf(s) === 0), cmd.wait_status);
    } else if (cmd.status_held) {
      let release = null, fetched = null;
      const released = new Promise((resolve) => { release = resolve; });
      const answered = new Promise((resolve) => { fetched = resolve; });
      await page.route((u) => /\/api\/crm\/conversations\/[^/]+$/.test(u.pathname), async (route) => {
        if (route.request().method() !== 'PATCH') return route.continue();
        const resp = await route.fetch();
        fetched();
        await released;
        await route.fulfill({ response: resp });
      });
      await page.selectOption('#thread-status', cmd.status_held);
      await answered;
      ok = await wait('status', (s) => Array.from(document.querySelectorAll('#convs .badge'))
        .some((e) => e.textContent === s), cmd.status_held);
      if (ok) {
        emit({ step: 'held', state: await page.evaluate(inboxState) });
        await nextLine();
        ok = await wait('reopened', () => Array.from(document.querySelectorAll('#convs .badge'))
          .some((e) => e.textContent === 'OPEN'));
      }
      release();
      if (ok) await page.waitForTimeout(1000);
    } else if (cmd.status) {
      await page.selectOption('#thread-status', cmd.status);
      ok = await wait('status', (s) => Array.from(document.querySelectorAll('#convs .badge'))
        .some((e) => e.textContent === s), cmd.status);
    }
    if (!ok) return false;
    emit({ step: Object.keys(cmd)[0], state: await page.evaluate(inboxState), navigations: navigations(),
      page_errors: pageErrors });
    return true;
  });
});
