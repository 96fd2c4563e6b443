'use strict';
/*
 * Drives Debian's Chromium (/usr/bin/chromium) through playwright-core for
 * tests/integration/test_browser_live.py; run by that test, not by hand.
 *
 *   node live_page.js '{"mode": "viewer"|"owner", "url": ..., "jwt": ..., ...}'
 *
 * Writes one JSON object per line to stdout; the test reads them as they come.
 * mode "viewer": puts cfg.jwt, if any, in sessionStorage (as the token field would), opens
 *   cfg.url (/live.html?room=ID), waits until #conn shows cfg.conn, #status cfg.status,
 *   cfg.products items in #products and a viewer count of at least 1 (the page joined),
 *   prints {"step":"ready"}; then, for each JSON command line on stdin, waits for what it
 *   names and prints {"step": <cmd.wait>} with the page's state (or "timeout"):
 *     {"wait":"featured","id":P}       #featured and the #products item P highlighted
 *     {"wait":"chat","text":T}         a #chat item whose text is exactly T (as text)
 *     {"wait":"toast","text":T}        a #toasts item containing T
 *     {"wait":"status","status":S}     #status reads S
 *     {"wait":"send","text":T}         types T in #chat-input, clicks #chat-send, waits
 *                                      for it in #chat
 *     {"wait":"send_error","text":T}   types T, clicks #chat-send, waits for #chat-error
 *     {"wait":"pinned","text":T}       #pinned shows T, and the #chat item marked pinned (if
 *                                      any) is the one reading T
 *     {"wait":"away"}                  navigates to about:blank (the page's pagehide runs)
 *   then takes cfg.screenshot if set and prints {"step":"done"}.
 * mode "owner": opens cfg.url (/owner.html), pastes cfg.jwt, creates a room through
 *   #create-form, prints {"step":"created"} with #room-id/#stream-key/#rtmp-url, adds
 *   cfg.product through #product-form, features it, presses #start and prints
 *   {"step":"started"} once the page shows WAITING_STREAM; then, for each command line
 *   {"wait":"pin","text":T}, waits for the #owner-chat message T, presses its Pin button and
 *   prints {"step":"pin"} once #owner-pinned shows T and the message is marked pinned.
 * Every snapshot is what a user would read: the text of the elements on screen.
 */
const { cfg, commands, emit, nextLine, recordSeen, run } = require('./browser');

// An init script: the token a viewer would have pasted earlier in this tab, and the
// presence refresh period the test wants.
function setup([jwt, presenceMs]) {
  if (presenceMs) window.PulsePresenceMs = presenceMs;
  if (jwt) { try { sessionStorage.setItem('pulse.jwt', jwt); } catch (e) { /* ignore */ } }
}

function viewerState() {
  const el = (id) => document.getElementById(id);
  const text = (id) => (el(id) ? el(id).textContent : null);
  const items = (sel) => Array.prototype.slice.call(document.querySelectorAll(sel));
  const featured = el('featured');
  return {
    title: text('title'), status: text('status'), status_class: el('status').className,
    conn: text('conn'), viewers: text('viewers'),
    viewer_count: Number(text('viewer-count')), viewer_peak: Number(text('viewer-peak')),
    featured_id: featured.getAttribute('data-product-id'),
    featured_text: featured.textContent,
    products: items('#products > li').map((li) => ({
      id: li.getAttribute('data-product-id'), featured: li.classList.contains('product-featured'),
      text: li.textContent,
    })),
    chat: items('#chat > li').map((li) => {
      const t = li.querySelector('.chat-text');
      return { text: t ? t.textContent : li.textContent, cls: li.className };
    }),
    toasts: items('#toasts > *').map((t) => t.textContent),
    pinned: el('pinned').hidden ? null : { id: el('pinned').getAttribute('data-id'),
      user: el('pinned').querySelector('.pinned-user').textContent,
      text: el('pinned').querySelector('.pinned-text').textContent },
    chat_pinned: items('#chat > li.chat-pinned').map((li) => li.querySelector('.chat-text').textContent),
    chat_error: el('chat-error').hidden ? null : text('chat-error'),
    error: el('error').hidden ? null : text('error'),
    chat_disabled: el('chat-input').disabled && el('chat-send').disabled,
    // Anything hostile text could have turned into: elements no page script creates in chat.
    injected: document.querySelectorAll('#chat img, #chat script, #chat iframe, #chat b, #toasts img, #toasts b, ' +
      '#pinned img, #pinned b, ' +
      '#products script, #products iframe, #products b, #featured b').length,
    xss: window.__xss || null, marker: window.__marker || null, seen: window.__seen || [],
  };
}

const WAITS = {
  featured: (c) => {
    const f = document.getElementById('featured');
    const li = document.querySelector('#products > li[data-product-id="' + CSS.escape(c.id) + '"]');
    const others = document.querySelectorAll('#products > li.product-featured');
    return f.getAttribute('data-product-id') === c.id && li && li.classList.contains('product-featured') &&
      others.length === 1;
  },
  chat: (c) => Array.prototype.some.call(document.querySelectorAll('#chat > li .chat-text'),
    (t) => t.textContent === c.text),
  send: (c) => Array.prototype.some.call(document.querySelectorAll('#chat > li .chat-text'),
    (t) => t.textContent === c.text),
  send_error: () => { const e = document.getElementById('chat-error'); return !e.hidden && e.textContent; },
  toast: (c) => Array.prototype.some.call(document.querySelectorAll('#toasts > *'),
    (t) => t.textContent.indexOf(c.text) >= 0),
  status: (c) => document.getElementById('status').textContent === c.status,
  pinned: (c) => {
    const box = document.getElementById('pinned');
    const marked = document.querySelectorAll('#chat > li.chat-pinned .chat-text');
    return !box.hidden && box.querySelector('.pinned-text').textContent === c.text &&
      marked.length <= 1 && Array.prototype.every.call(marked, (t) => t.textContent === c.text);
  },
};

async function viewer(page, pageErrors) {
  try {
    await page.waitForFunction(([conn, status, n]) => {
      const t = (id) => document.getElementById(id).textContent;
      return t('conn') === conn && t('status') === status &&
        document.querySelectorAll('#products > li').length === n && Number(t('viewer-count')) >= 1;
    }, [cfg.conn || 'live', cfg.status, cfg.products], { timeout: cfg.ready_timeout_ms || 15000 });
  } catch (e) {
    emit({ step: 'timeout', waiting_for: 'ready', state: await page.evaluate(viewerState), page_errors: pageErrors });
    return;
  }
  // Anything that reloads the page would drop this marker.
  await page.evaluate(() => { window.__marker = 'same-page'; });
  emit({ step: 'ready', state: await page.evaluate(viewerState) });

  for (;;) {
    const line = await nextLine();
    if (line === null || line === 'quit') break;
    const cmd = JSON.parse(line);
    const t0 = Date.now();
    if (cmd.wait === 'away') {
      // Leaving the page fires pagehide: the page's keepalive leave must still get out.
      await page.goto('about:blank', { timeout: 10000 });
      emit({ step: 'away', page_errors: pageErrors });
      continue;
    }
    if (cmd.wait === 'send' || cmd.wait === 'send_error') {
      await page.fill('#chat-input', cmd.text);
      await page.click('#chat-send');
    }
    try {
      await page.waitForFunction(WAITS[cmd.wait], cmd, { timeout: cmd.timeout_ms || 10000 });
    } catch (e) {
      emit({ step: 'timeout', waiting_for: cmd.wait, cmd, state: await page.evaluate(viewerState),
        page_errors: pageErrors });
      return;
    }
    emit({ step: cmd.wait, ms: Date.now() - t0, state: await page.evaluate(viewerState), page_errors: pageErrors });
  }
  if (cfg.screenshot) await page.screenshot({ path: cfg.screenshot, fullPage: true });
}

async function owner(page, pageErrors) {
  const text = (sel) => page.$eval(sel, (e) => e.textContent);
  const step = async (name, fn, waitFn, arg) => {
    try {
      if (fn) await fn();
      await page.waitForFunction(waitFn, arg, { timeout: 10000 });
      return true;
    } catch (e) {
      emit({ step: 'timeout', waiting_for: name, error: String(e), page_errors: pageErrors,
        owner_error: await text('#owner-error'), create_error: await text('#create-error'),
        product_error: await text('#product-error'), manage_error: await text('#manage-error') });
      return false;
    }
  };
  await page.fill('#jwt', cfg.jwt);
  await page.click('#jwt-save');
  if (!await step('console', null, () => !document.getElementById('console').hidden)) return;
  const room = cfg.room;
  await page.fill('#room-title', room.title);
  await page.fill('#room-desc', room.description);
  await page.fill('#room-thumb', room.thumbnailUrl);
  if (!await step('created', () => page.click('#create-submit'), () => {
    const t = (id) => document.getElementById(id).textContent;
    // the list of the owner's rooms is reloaded after the create answers: wait for it to
    // show the new room, as its owner would, before reading it
    const listed = Array.from(document.querySelectorAll('#my-rooms > li'))
      .some((li) => li.getAttribute('data-room-id') === t('room-id'));
    return !document.getElementById('manage').hidden && t('room-id') !== '—' && t('stream-key') !== '—' &&
      t('manage-status') === 'PENDING' && listed;
  })) return;
  emit({ step: 'created', room_id: await text('#room-id'), stream_key: await text('#stream-key'),
    rtmp_url: await text('#rtmp-url'), title: await text('#manage-title'),
    my_rooms: await page.$$eval('#my-rooms > li', (l) => l.map((li) => li.getAttribute('data-room-id'))) });

  const p = cfg.product;
  await page.fill('#p-id', p.productId);
  await page.fill('#p-name', p.productName);
  await page.fill('#p-image', p.productImageUrl);
  await page.fill('#p-original', String(p.originalPrice));
  await page.fill('#p-live', String(p.livePrice));
  await page.fill('#p-limit', String(p.quantityLimit));
  await page.fill('#p-stock', String(p.stockAvailable));
  await page.fill('#p-order', String(p.displayOrder));
  if (!await step('product', () => page.click('#product-submit'),
    () => document.querySelectorAll('#owner-products > li').length === 1)) return;
  if (!await step('feature', () => page.click('#owner-products > li button.feature'),
    () => document.querySelectorAll('#owner-products > li.product-featured').length === 1)) return;
  if (!await step('start', () => page.click('#start'),
    () => document.getElementById('manage-status').textContent === 'WAITING_STREAM' &&
      document.getElementById('start').disabled)) return;
  emit({ step: 'started', status: await text('#manage-status'), conn: await text('#conn'),
    products: await page.$$eval('#owner-products > li', (l) => l.map((li) => ({
      id: li.getAttribute('data-product-id'), featured: li.classList.contains('product-featured'),
      text: li.textContent }))),
    page_errors: pageErrors });

  await commands(page, async (cmd) => {
    if (!await step('chat', null, ([t]) => {
      const li = Array.prototype.find.call(document.querySelectorAll('#owner-chat > li'),
        (x) => x.querySelector('.chat-text').textContent === t);
      return li && !li.querySelector('button.pin').disabled;
    }, [cmd.text])) return false;
    await page.evaluate(([t]) => Array.prototype.find.call(document.querySelectorAll('#owner-chat > li'),
      (x) => x.querySelector('.chat-text').textContent === t).querySelector('button.pin').click(), [cmd.text]);
    if (!await step('pin', null, ([t]) => {
      const box = document.getElementById('owner-pinned');
      const marked = document.querySelectorAll('#owner-chat > li.chat-pinned .chat-text');
      return !box.hidden && box.querySelector('.pinned-text').textContent === t && marked.length === 1 &&
        marked[0].textContent === t && marked[0].parentNode.querySelector('button.pin').disabled;
    }, [cmd.text])) return false;
    emit({ step: 'pin', pinned: await text('#owner-pinned .pinned-text'), chat_error: await text('#chat-error'),
      chat: await page.$$eval('#owner-chat > li', (l) => l.map((li) => ({
        text: li.querySelector('.chat-text').textContent, pinned: li.classList.contains('chat-pinned') }))),
      page_errors: pageErrors });
    return true;
  });
}

run({
  viewport: { width: 960, height: 900 },
  init: [[setup, [cfg.mode === 'viewer' ? cfg.jwt : null, cfg.presence_ms || 0]], [recordSeen, ['conn', 'status']]],
}, (page, pageErrors) => (cfg.mode === 'owner' ? owner : viewer)(page, pageErrors));
