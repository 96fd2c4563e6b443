'use strict';
/*
 * www/pulse.js's decisions, in Node with a scripted server: the requests it makes and what
 * it hands the page. Run by tests/integration/test_pulse_js.py, not by hand:
 *
 *   node pulse_unit.js SCENARIO
 *
 * Prints one JSON object: {"requests": [...paths...], "events": [ids], "resets": [infos],
 * "states": [...], plus what the scenario reports}. Each scenario ends on its own (bounded).
 */
const path = require('path');

function load() {
  delete require.cache[require.resolve(path.join(__dirname, '..', '..', 'www', 'pulse.js'))];
  return require(path.join(__dirname, '..', '..', 'www', 'pulse.js'));
}

// A fetch that answers each request with the next scripted reply ({status, body}).
function server(replies) {
  const requests = [];
  global.fetch = (url) => {
    requests.push(url);
    const r = replies.shift() || { status: 503, body: { error: { code: 'unavailable' } } };
    const headers = new Map(Object.entries(r.headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
    return Promise.resolve({
      status: r.status,
      headers: { get: (k) => (headers.has(k.toLowerCase()) ? headers.get(k.toLowerCase()) : null) },
      text: () => Promise.resolve(JSON.stringify(r.body)),
    });
  };
  return requests;
}

function since(url) {
  const m = /[?&]since=(\d+)/.exec(url);
  return m ? Number(m[1]) : null;
}

function ev(id) { return { id, topic: 'room:t', type: 'note', ts: '2026-01-01T00:00:00Z', data: {} }; }

// A polling subscription to room:t (extra options in opts) against the scripted replies,
// for 300 ms; done gets the requests, their since values, the events and the resets.
function pollFor(replies, opts, done) {
  const requests = server(replies);
  const out = { requests, events: [], resets: [] };
  const sub = load().subscribe(Object.assign({
    topics: ['room:t'], EventSource: null, pollIntervalMs: 20,
    on: { note: (e) => out.events.push(e.id) }, onReset: (i) => out.resets.push(i),
  }, opts));
  setTimeout(() => { sub.close(); out.since = requests.map(since); done(out); }, 300);
}

// An EventSource stand-in: records the event names listened for; fire(name, env) dispatches
// as a browser does, to the listeners registered for that exact name only.
function fakeEventSource(sources) {
  return class {
    constructor(url) { this.url = url; this.listeners = {}; this.readyState = 0; sources.push(this); }
    addEventListener(name, fn) { (this.listeners[name] = this.listeners[name] || []).push(fn); }
    close() { this.readyState = 2; }
    fire(name, env) {
      (this.listeners[name] || []).forEach((fn) => fn({ data: JSON.stringify(env), lastEventId: String(env.id) }));
    }
  };
}

function typed(id, type) { return Object.assign(ev(id), { type }); }

const scenarios = {
  // A poll answered `reset` with reason unknown_id (the database was replaced, the head is
  // below our position): one reset, then polling goes on from the new head, not from the
  // old position (which would reset again on every poll) nor from 0 (replaying everything).
  poll_unknown_id(done) {
    pollFor([
      { status: 200, body: { events: [], last_id: 5, reset: true, reason: 'unknown_id' } },
      { status: 200, body: { events: [ev(6)], last_id: 6, reset: false } },
      { status: 200, body: { events: [], last_id: 6, reset: false } },
    ], { lastEventId: 100 }, done);
  },
  // history_expired by polling: a reset, and the retained events after it still delivered.
  poll_history_expired(done) {
    pollFor([
      { status: 200, body: { events: [ev(40), ev(41)], last_id: 41, reset: true, reason: 'history_expired' } },
      { status: 200, body: { events: [], last_id: 41, reset: false } },
    ], { lastEventId: 3 }, done);
  },
  // No position: the head is asked for once (no since), then every poll starts from it.
  from_now(done) {
    pollFor([
      { status: 200, body: { events: [], last_id: 77, reset: false } },
      { status: 200, body: { events: [ev(78)], last_id: 78, reset: false } },
      { status: 200, body: { events: [], last_id: 78, reset: false } },
    ], {}, done);
  },
  // Pulse.api hands the page the read's position.
  api_event_id(done) {
    const requests = server([{ status: 200, body: { ok: 1 }, headers: { 'Pulse-Event-Id': '42' } },
      { status: 200, body: { ok: 1 } }]);
    const Pulse = load();
    Pulse.api('GET', '/api/x').then((a) => Pulse.api('GET', '/api/y').then((b) => {
      done({ requests, with_header: a.eventId, without: b.eventId });
    }));
  },
  // The stream listens for exactly the types the page names (`on`, and `types` for onEvent),
  // whatever they are, and each event goes to its type's handler.
  stream_types(done) {
    const sources = [];
    const out = { handled: [], on_event: [] };
    const sub = load().subscribe({
      topics: ['room:t'], lastEventId: 5, EventSource: fakeEventSource(sources),
      on: { note: (e) => out.handled.push(['note', e.id]), 'shop.sale': (e) => out.handled.push(['shop.sale', e.id]) },
      types: ['extra'], onEvent: (e) => out.on_event.push([e.type, e.id]),
    });
    const src = sources[0];
    src.onopen();
    src.fire('note', typed(6, 'note'));
    src.fire('status', typed(7, 'status'));       // not followed: no listener, nothing delivered
    src.fire('shop.sale', typed(8, 'shop.sale'));
    src.fire('extra', typed(9, 'extra'));
    out.listened = Object.keys(src.listeners).sort();
    out.state = sub.state();
    sub.close();
    done(out);
  },
  // A poll answers every type on the topics: only the followed ones reach the page, and the
  // next poll still starts after the last event of any type.
  poll_types(done) {
    const handled = [], onEvent = [];
    pollFor([
      { status: 200, body: { events: [typed(6, 'note'), typed(7, 'other'), typed(8, 'chat')], last_id: 8, reset: false } },
      { status: 200, body: { events: [], last_id: 8, reset: false } },
    ], {
      lastEventId: 5,
      on: { note: (e) => handled.push(['note', e.id]), chat: (e) => handled.push(['chat', e.id]) },
      onEvent: (e) => onEvent.push([e.type, e.id]),
    }, (out) => done(Object.assign(out, { handled, on_event: onEvent })));
  },
  // A subscription that names no type would receive nothing: it is refused at once.
  no_types(done) {
    const errors = [];
    for (const opts of [{}, { on: { reset: () => {} } }, { on: { note: 'not a function' } }]) {
      try {
        load().subscribe(Object.assign({ topics: ['room:t'], EventSource: null, lastEventId: 5 }, opts)).close();
        errors.push(null);
      } catch (e) {
        errors.push(String(e.message));
      }
    }
    done({ errors });
  },
  // positions(): a read older than an applied event is refused, an event the read holds is
  // not applied twice, and after unknown_id everything is accepted again.
  positions(done) {
    const Pulse = load();
    const at = Pulse.positions();
    const r = [];
    r.push(at.read('room', 10));       // true: nothing shown yet
    r.push(at.event('room', 10));      // false: the read holds it
    r.push(at.event('room', 12));      // true
    r.push(at.read('room', 11));       // false: older than what is shown
    r.push(at.read('room', 12));       // true: the same position
    at.reset({ reason: 'history_expired' });
    r.push(at.event('room', 5));       // false: history_expired keeps positions
    at.reset({ reason: 'unknown_id' });
    r.push(at.read('room', 3));        // true: the log was replaced, ids start lower
    r.push(at.event('room', 4));       // true
    done({ results: r });
  },
};

const name = process.argv[2];
if (!scenarios[name]) { console.log(JSON.stringify({ error: 'no scenario ' + name })); process.exit(2); }
scenarios[name]((out) => { console.log(JSON.stringify(out)); process.exit(0); });
