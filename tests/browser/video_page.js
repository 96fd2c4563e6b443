'use strict';
/*
 * Drives Debian's Chromium (/usr/bin/chromium) through playwright-core for
 * tests/integration/test_live_video.py; run by that test, not by hand.
 *
 *   node video_page.js '{"url": ".../live.html?room=ID", "status": S, ...}'
 *
 * Opens cfg.url, waits until #status reads cfg.status and #conn "live", prints
 * {"step":"ready"} with the page's state; then, for each JSON command line on stdin, waits
 * for what it names and prints {"step": <cmd.wait>} with the state (or "timeout"):
 *   {"wait":"playing","seconds":N}   the video plays, past N seconds of it, and the page says so
 *   {"wait":"video_state","state":S} #video-state's data-state is S (offline, live, ...)
 * The state holds every URL the page requested, to show what a viewer's browser learns.
 */
const { cfg, commands, emit, run } = require('./browser');

function state() {
  const v = document.getElementById('video');
  const vs = document.getElementById('video-state');
  return {
    status: document.getElementById('status').textContent,
    conn: document.getElementById('conn').textContent,
    video_state: vs.getAttribute('data-state'), video_state_text: vs.textContent,
    video_hidden: v.hidden, current_time: v.currentTime, paused: v.paused, ready_state: v.readyState,
    width: v.videoWidth, height: v.videoHeight, src: v.currentSrc,
    hls_js: typeof window.Hls === 'function' && window.Hls.isSupported(),
    mse_h264: !!(window.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"')),
    html: document.documentElement.outerHTML,
  };
}

const WAITS = {
  playing: (c) => {
    const v = document.getElementById('video');
    // hls.js seeks to the live edge before the picture comes (currentTime jumps while the
    // element still waits for data), so the time alone does not mean the viewer sees video:
    // the page's own "live" (set on the element's 'playing' event) is awaited with it.
    return !v.hidden && !v.paused && v.currentTime > c.seconds &&
      document.getElementById('video-state').getAttribute('data-state') === 'live';
  },
  video_state: (c) => document.getElementById('video-state').getAttribute('data-state') === c.state,
};

const requests = [];            // every URL the page asked for, from the first

run({
  viewport: { width: 960, height: 900 },
  routes: async (page) => { page.on('request', (r) => requests.push(r.url())); },
}, async (page, pageErrors) => {
  const snap = async (step, extra) => emit(Object.assign({ step, state: await page.evaluate(state), requests,
    page_errors: pageErrors }, extra || {}));
  try {
    await page.waitForFunction((s) => document.getElementById('status').textContent === s &&
      document.getElementById('conn').textContent === 'live', cfg.status, { timeout: 15000 });
  } catch (e) {
    await snap('timeout', { waiting_for: 'ready' });
    return;
  }
  await snap('ready');
  await commands(page, async (cmd) => {
    try {
      await page.waitForFunction(WAITS[cmd.wait], cmd, { timeout: cmd.timeout_ms || 30000 });
    } catch (e) {
      await snap('timeout', { waiting_for: cmd.wait, cmd });
      return false;
    }
    await snap(cmd.wait);
    return true;
  });
});
