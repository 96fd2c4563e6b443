/*
 * www/pulse.js itself, in Node, following a real instance through the web server: the npm
 * `eventsource` package is its EventSource (or none, to poll). For
 * tests/integration/test_pulse_js_types.py; run by that test, not by hand.
 *
 *   node pulse_follow.mjs '{"base": "http://127.0.0.1:PORT", "topic": T, "access_token": JWT,
 *                           "last_event_id": N, "follow": ["note"], "poll": false}'
 *
 * Subscribes to cfg.topic with one handler per type in cfg.follow (through `on`) and prints
 * one JSON line per observation: {"step":"state","state":S}, {"step":"event","type":T,"id":N}.
 * Exits when stdin closes (the test is done with it). cfg.user_data_dir, which the test
 * helper that starts it always passes, is not used.
 *
 * cfg.hidden_ms: the page's visibility is the test's to set (Node has none): a `document`
 * whose visibilityState the lines "hide" and "show" on stdin change, with the
 * visibilitychange event a browser fires; pulse.js gets hiddenPollAfterMs = hidden_ms.
 */
import { createRequire } from 'module';
import { EventSource } from 'eventsource';

const require = createRequire(import.meta.url);
const Pulse = require('../../www/pulse.js');
const cfg = JSON.parse(process.argv[2] || '{}');
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

if (cfg.hidden_ms != null) {
  globalThis.document = new EventTarget();
  globalThis.document.visibilityState = 'visible';
}

const on = {};
for (const type of cfg.follow || []) on[type] = (ev) => emit({ step: 'event', type: ev.type, id: ev.id });
const sub = Pulse.subscribe({
  base: cfg.base, topics: [cfg.topic], accessToken: cfg.access_token, lastEventId: cfg.last_event_id,
  EventSource: cfg.poll ? null : EventSource, pollIntervalMs: 200, on,
  hiddenPollAfterMs: cfg.hidden_ms,
  onState: (state) => emit({ step: 'state', state }),
});

let input = '';
process.stdin.on('data', (chunk) => {
  input += chunk;
  let nl;
  while ((nl = input.indexOf('\n')) >= 0) {
    const line = input.slice(0, nl).trim();
    input = input.slice(nl + 1);
    if ((line === 'hide' || line === 'show') && globalThis.document) {
      globalThis.document.visibilityState = line === 'hide' ? 'hidden' : 'visible';
      globalThis.document.dispatchEvent(new Event('visibilitychange'));
      emit({ step: 'visibility', state: globalThis.document.visibilityState });
    }
  }
});
process.stdin.on('end', () => { sub.close(); process.exit(0); });
