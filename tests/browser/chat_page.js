'use strict';
/*
 * Drives Debian's Chromium through playwright-core for tests/integration/test_browser_chat.py;
 * run by that test, not by hand.
 *
 *   node chat_page.js '{"url": ".../chat.html", "block_stream": false, "user_data_dir": ...}'
 *
 * Opens cfg.url and prints {"step":"ready"}. cfg.block_stream refuses every stream request
 * (a proxy that breaks SSE), so the page must fall back to polling. Then, for each command
 * line on stdin (JSON), it acts as a user would and prints {"step": <command>, "ok",
 * "state", ...}; ok is false when what it waited for did not come within the bounded wait.
 *   {"sign_in": jwt}    pastes the token and uses it; waits for the chat app to show
 *   {"new": true}       clicks New chat; waits until a conversation is open
 *   {"send": text}      types text and clicks Send; waits until it shows, or an error does
 *   {"stop": true}      clicks Stop
 *   {"reload": true}    reloads the page (the recording starts over)
 *   {"goto": url}       opens url
 *   {"wait": what, "timeout": ms, ...}   waits (up to timeout) until what the page shows is:
 *     "last": the last answer has status cmd.status and at least cmd.min characters;
 *     "conn": #conn reads cmd.conn; "answers": an answer shows; "error": #chat-error shows;
 *     "nothing": never (a pause of timeout ms)
 * The line "end" takes cfg.screenshot, if set, and ends. Every state holds what a user reads, plus "seen": each change of the answers' text and
 * status since the page loaded, with t = ms since navigation.
 */
const { cfg, commands, emit, run } = require('./browser');

// Init script: window.__seen gets the answers on screen ({id: [status, text]}) on each change.
function recordAnswers() {
  window.__seen = [];
  const snap = () => {
    const s = {};
    document.querySelectorAll('#messages .ai-assistant').forEach((li) => {
      const t = li.querySelector('.ai-text');
      s[li.getAttribute('data-message-id')] = [li.getAttribute('data-status'), t ? t.textContent : ''];
    });
    const last = window.__seen[window.__seen.length - 1];
    if (!last || JSON.stringify(last.a) !== JSON.stringify(s)) {
      window.__seen.push({ t: Math.round(performance.now()), a: s });
    }
  };
  document.addEventListener('DOMContentLoaded', () => {
    snap();
    new MutationObserver(snap).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

function chatState() {
  const el = (id) => document.getElementById(id);
  const visible = (id) => (el(id) && !el(id).hidden ? el(id).textContent : null);
  return {
    conn: visible('conn'), error: visible('chat-error'), send_error: visible('send-error'),
    whoami: el('whoami') ? el('whoami').textContent : null,
    app: !el('chat-app').hidden, conversation: !el('conversation').hidden, stop: !el('stop').hidden,
    session: new URLSearchParams(location.search).get('session'),
    sessions: Array.from(document.querySelectorAll('#sessions li')).map((li) => li.getAttribute('data-session-id')),
    selected: Array.from(document.querySelectorAll('#sessions li.room-selected')).map((li) => li.getAttribute('data-session-id')),
    messages: Array.from(document.querySelectorAll('#messages li')).map((li) => ({
      id: li.getAttribute('data-message-id'), role: li.classList.contains('ai-user') ? 'user' : 'assistant',
      status: li.getAttribute('data-status'), text: li.querySelector('.ai-text').textContent,
      note: li.querySelector('.ai-note') ? li.querySelector('.ai-note').textContent : null,
    })),
    injected: document.querySelectorAll('#messages b, #messages img').length,
    seen: window.__seen || [],
  };
}

// The conditions of "wait", run in the page (playwright passes them as functions: the pages'
// CSP has no 'unsafe-eval', so no expression in a string could run there).
const WAITS = {
  last: (c) => {
    const a = document.querySelectorAll('#messages .ai-assistant');
    const l = a[a.length - 1];
    return !!l && l.getAttribute('data-status') === c.status && l.querySelector('.ai-text').textContent.length >= (c.min || 0);
  },
  conn: (c) => !document.getElementById('conn').hidden && document.getElementById('conn').textContent === c.conn,
  answers: () => document.querySelectorAll('#messages .ai-assistant').length > 0,
  error: () => !document.getElementById('chat-error').hidden,
  nothing: () => false,
};

async function blockStreams(page) {
  await page.route((u) => u.pathname === '/api/events/stream', (route) => route.abort('connectionreset'));
}

run({ viewport: { width: 900, height: 800 }, init: [[recordAnswers]], routes: cfg.block_stream ? blockStreams : null },
  async (page, pageErrors, navigations) => {
    const wait = async (fn, arg, ms) => {
      try {
        await page.waitForFunction(fn, arg, { timeout: ms || 10000 });
        return true;
      } catch (e) {
        emit({ step: 'console', type: 'wait', text: String(e && e.message || e) });
        return false;
      }
    };
    emit({ step: 'ready', state: await page.evaluate(chatState) });
    await commands(page, async (cmd) => {
      let ok = true;
      if (cmd.sign_in) {
        await page.fill('#jwt', cmd.sign_in);
        await page.click('#jwt-save');
        ok = await wait(() => !document.getElementById('chat-app').hidden);
      } else if (cmd.new) {
        const before = new URLSearchParams(await page.evaluate(() => location.search)).get('session');
        await page.click('#new-session');
        ok = await wait((b) => {
          const s = new URLSearchParams(location.search).get('session');
          return s && s !== b && !document.getElementById('conversation').hidden;
        }, before);
      } else if (cmd.send) {
        await page.fill('#message', cmd.send);
        await page.click('#send');
        ok = await wait((t) => !document.getElementById('send-error').hidden ||
          Array.from(document.querySelectorAll('#messages .ai-user .ai-text')).some((e) => e.textContent === t), cmd.send);
      } else if (cmd.stop) {
        await page.click('#stop');
      } else if (cmd.reload) {
        await page.reload({ waitUntil: 'domcontentloaded', timeout: 15000 });
      } else if (cmd.goto) {
        await page.goto(cmd.goto, { waitUntil: 'domcontentloaded', timeout: 15000 });
      } else if (cmd.wait) {
        ok = await wait(WAITS[cmd.wait], cmd, cmd.timeout);
      }
      emit({ step: Object.keys(cmd)[0], ok, state: await page.evaluate(chatState), navigations: navigations(),
        page_errors: pageErrors });
    });
  });
