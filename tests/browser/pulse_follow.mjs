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
 */
import { createRequire } from 'module';
import { EventSource } from 'eventsource';

const require = createRequire(import.meta.url);
const Pulse = require('../../www/pulse.js');
const cfg = JSON.parse(process.argv[2] || '{}');
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const on = {};
for (const type of cfg.follow || []) on[type] = (ev) => emit({ step: 'event', type: ev.type, id: ev.id });
const sub = Pulse.subscribe({
  base: cfg.base, topics: [cfg.topic], accessToken: cfg.access_token, lastEventId: cfg.last_event_id,
  EventSource: cfg.poll ? null : EventSource, pollIntervalMs: 200, on,
  onState: (state) => emit({ step: 'state', state }),
});

process.stdin.on('data', () => {});
process.stdin.on('end', () => { sub.close(); process.exit(0); });
