/*
 * pulse.js: browser client for Pulse (see API.md, "Events" and "Polling fallback").
 *
 *   var sub = Pulse.subscribe({
 *     topics: ['topup:TX1'], token: null, accessToken: null, lastEventId: null, baseUrl: null,
 *     on: { 'topup.status': function (envelope) {} },  // the types followed, each with its handler
 *     onEvent: function (envelope) {},    // optional: every followed event, before its handler
 *     types: [],                          // optional: more types to follow, for onEvent alone
 *     onReset: function (info) {},        // {reason, last_event_id}: refetch state
 *     onState: function (state) {},       // 'connecting' | 'live' | 'polling' | 'offline'
 *     onError: function (response) {},    // failed poll: {status, json, headers, eventId} or null
 *     pollIntervalMs: 2000, streamRetryMs: 30000,
 *     hiddenPollAfterMs: 10000            // a hidden page polls instead (0: it keeps streaming)
 *   });
 *   sub.close(); sub.state(); sub.lastEventId();
 *
 * on: the event types the page handles, each with its handler; envelope = {id, topic, type,
 * ts, data}, each id once, in order. An EventSource dispatches a named event only to the
 * listeners registered for that name, so the subscription follows exactly the types named in
 * `on` (and `types`), by stream and by polling alike; at least one must be named.
 * lastEventId: N = everything after N: pass the eventId of the state read the page shows,
 * so that state plus the events after it is exactly the current state (API.md, "State reads
 * carry their log position"); 0 = everything retained; null/absent = from now on (the head
 * is asked for first, and every transport resumes from it).
 * token/accessToken: a string, or a function returning the current one (a stream ends when
 * its JWT expires and reconnects with what the function gives then).
 * baseUrl: where Pulse is installed, the folder holding api/ ('https://example.com/pulse/');
 * default Pulse.baseUrl: the folder pulse.js was loaded from (it sits beside the pages), else
 * the page's own (document.baseURI). So the same page works at the site's root and in a folder.
 * (base: the older option, an origin put before '/api/...', still works.)
 * hiddenPollAfterMs: a page hidden that long (another tab in front, a minimised window) closes
 * its stream and polls until it is shown again, then streams on from where it was: a browser
 * holds at most six HTTP/1.1 connections to a site, so a stream in every background tab would
 * leave a seventh tab unable to load at all. Nothing is lost either way (one high-water mark);
 * but browsers slow a hidden page's timers (Chrome: once a minute after five minutes), so its
 * polls, and the events they bring, come at that pace: 0 keeps a page that must keep up streaming.
 * EventSource: null forces polling. Pulse.api(method, path, body, jwt) -> Promise of
 * {status, json, headers, eventId} (eventId: the Pulse-Event-Id of a state read, or null);
 * a relative path ('api/wallet') is taken from Pulse.baseUrl, a '/...' or full URL as it is;
 * Pulse.positions() -> a tracker of the log position of each piece of state a page shows;
 * Pulse.escapeHtml(s).
 *
 * Plain ES5 plus Promise/fetch/EventSource, so it loads as a classic <script>.
 */
(function (root) {
  'use strict';

  var OPEN_TIMEOUT_MS = 10000;   // a proxy that buffers SSE never fires onopen
  var ERROR_WINDOW_MS = 30000;   // this many errors within the window means "flapping"
  var MAX_ERRORS = 3;
  var MAX_BACKOFF_MS = 30000;
  var POLL_LIMIT = 100;

  // Pulse.baseUrl's default: the folder of the script element that loaded pulse.js (read
  // while it runs: document.currentScript is null afterwards), else the page's folder; '/'
  // outside a browser. A URL ending in '/'.
  function scriptFolder() {
    var d = root.document;
    var u = (d && d.currentScript && d.currentScript.src) || (d && d.baseURI) || '';
    u = String(u).replace(/[?#].*$/, '');
    return u ? u.replace(/[^\/]*$/, '') : '/';
  }

  // path as a URL: a relative one ('api/events?...') under base (a folder, ending in '/'),
  // an absolute path or a full URL as it is.
  function under(base, path) {
    path = String(path);
    if (path.charAt(0) === '/' || /^[a-z][a-z0-9+.-]*:/i.test(path)) return path;
    return base + path;
  }

  function escapeHtml(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  // +-20% so that many clients cut off together do not come back in lockstep.
  function jitter(ms) { return Math.round(ms * (0.8 + Math.random() * 0.4)); }

  // 1 s, 2 s, 4 s ... capped, for the n-th consecutive failure (n >= 1).
  function backoff(n, cap) {
    return jitter(Math.min(cap || MAX_BACKOFF_MS, 1000 * Math.pow(2, Math.max(0, n - 1))));
  }

  // Retry-After is either delta-seconds or an HTTP date; 0 when absent or unreadable.
  function retryAfterMs(r) {
    var h = r && r.headers && r.headers.get ? r.headers.get('Retry-After') : null;
    if (!h) return 0;
    if (/^\s*\d+\s*$/.test(h)) return parseInt(h, 10) * 1000;
    var t = Date.parse(h);
    return isNaN(t) ? 0 : Math.max(0, t - Date.now());
  }

  // Resolves {status, json, headers} for any HTTP status; rejects only on network failure,
  // so callers branch on status instead of catching.
  function api(method, path, body, jwt) {
    var headers = { 'Accept': 'application/json' };
    var init = { method: method || 'GET', headers: headers, credentials: 'same-origin' };
    if (body !== undefined && body !== null) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (jwt) headers.Authorization = 'Bearer ' + jwt;
    return root.fetch(under(Pulse.baseUrl, path), init).then(function (res) {
      return res.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        var at = res.headers.get('Pulse-Event-Id');
        var eventId = at != null && /^\d+$/.test(at) ? Number(at) : null;
        return { status: res.status, json: json, headers: res.headers, eventId: eventId };
      });
    });
  }

  // Which log position each piece of state on a page reflects, so that a state read and the
  // events around it can land in any order: a read applies unless the page already shows a
  // newer position of that piece, an event applies only when it is newer than what is shown.
  //   var at = Pulse.positions();
  //   api(...).then(function (r) { if (at.read('room', r.eventId)) render(r.json); });
  //   onEvent: function (ev) { if (at.event('room', ev.id)) render(ev.data); }
  function positions() {
    var shown = {};
    return {
      read: function (key, id) {
        if (id == null) return true;           // no position given: nothing to compare
        if (shown[key] != null && id < shown[key]) return false;
        shown[key] = id;
        return true;
      },
      event: function (key, id) {
        id = Number(id);
        if (!(id > 0)) return true;
        if (shown[key] != null && id <= shown[key]) return false;
        shown[key] = id;
        return true;
      },
      at: function (key) { return shown[key] != null ? shown[key] : null; },
      // From onReset: after unknown_id (the log was replaced; ids start lower again) the
      // positions held mean nothing, and would refuse every read and event that follows.
      reset: function (info) { if (info && info.reason === 'unknown_id') shown = {}; }
    };
  }

  function value(v) { return typeof v === 'function' ? v() : v; }

  function query(pairs) {
    var out = [];
    for (var i = 0; i < pairs.length; i++) {
      var v = pairs[i][1];
      if (v === null || v === undefined || v === '') continue;
      out.push(encodeURIComponent(pairs[i][0]) + '=' + encodeURIComponent(String(v)));
    }
    return out.join('&');
  }

  function has(obj, key) { return Object.prototype.hasOwnProperty.call(obj, key); }

  // The types a subscription follows: the keys of opts.on with a function, plus opts.types.
  // `reset` is the stream's own control event (onReset), never a type to follow.
  function followed(opts) {
    var on = {}, types = [], t, i;
    function add(type) { if (type !== 'reset' && types.indexOf(type) < 0) types.push(type); }
    for (t in opts.on || {}) {
      if (has(opts.on, t) && typeof opts.on[t] === 'function') { on[t] = opts.on[t]; add(t); }
    }
    for (i = 0; opts.types && i < opts.types.length; i++) add(String(opts.types[i]));
    if (!types.length) throw new Error('Pulse.subscribe: name the event types to follow in opts.on');
    return { on: on, types: types };
  }

  // A throwing page callback must not wedge the state machine; rethrow it on its own tick
  // so it still shows up in the console once.
  function call(fn, arg) {
    if (typeof fn !== 'function') return;
    try { fn(arg); } catch (e) { setTimeout(function () { throw e; }, 0); }
  }

  function subscribe(opts) {
    opts = opts || {};
    var topics = [].concat(opts.topics || []);
    // The folder Pulse is in, ending in '/': relative API paths go under it.
    var base = opts.baseUrl ? String(opts.baseUrl).replace(/\/?$/, '/') : opts.base ? opts.base + '/' : Pulse.baseUrl;
    var pollMs = opts.pollIntervalMs || 2000;
    var streamRetryMs = opts.streamRetryMs || 30000;
    // Injectable; EventSource: null forces polling (old browsers, or to test the fallback).
    var ES = 'EventSource' in opts ? opts.EventSource : root.EventSource;
    var follow = followed(opts);
    var lastId = Number(opts.lastEventId) > 0 ? Number(opts.lastEventId) : 0;
    // No lastEventId means "from now", like a fresh EventSource; 0 means "all retained".
    // "Now" is fixed once, by asking for the head before either transport starts: a stream
    // that drops before its first event, or a switch to polling, then resumes from that
    // position instead of from a later "now" (which would lose what happened in between).
    var haveCursor = opts.lastEventId != null && opts.lastEventId !== '';

    var state = null, closed = false;
    var mode = ES ? 'stream' : 'poll';   // 'poll' = polling is the transport, streams are probes
    var es = null, openTimer = null, errTimes = [];
    var pollTimer = null, pollGen = 0, pollFails = 0;
    var probeTimer = null, probeFails = 0;
    var hiddenMs = opts.hiddenPollAfterMs != null ? Number(opts.hiddenPollAfterMs) : 10000;
    var doc = root.document, parked = false, hideTimer = null;

    function setState(s) {
      if (closed || s === state) return;
      state = s;
      call(opts.onState, s);
    }

    // The single entry point for events from both transports: the stream replay and a poll
    // in flight can overlap at a switch-over, so ids at or below the high-water mark are dropped.
    // A poll answers every type on the topics: those the page does not follow are passed over
    // (the position still moves past them), as the stream, which has no listener for them, does.
    function deliver(env) {
      if (closed || !env || typeof env !== 'object') return;
      var id = Number(env.id);
      if (id > 0) {
        if (id <= lastId) return;
        lastId = id;
        haveCursor = true;
      }
      var type = String(env.type);
      if (follow.types.indexOf(type) < 0) return;
      call(opts.onEvent, env);
      if (has(follow.on, type)) call(follow.on[type], env);
    }

    // at: where the stream or the poll goes on after the reset (the reset event's id, the
    // poll's last_id): the refetched state holds the log up to there.
    function reset(info, at) {
      at = Number(at) > 0 ? Number(at) : 0;
      // unknown_id: the log was replaced and ids start over lower than ours; keeping the old
      // high-water mark would silently drop every new event.
      if (info && info.reason === 'unknown_id') lastId = at;
      else if (at > lastId) lastId = at;
      call(opts.onReset, info || {});
    }

    function topicPairs() {
      var p = [];
      for (var i = 0; i < topics.length; i++) p.push(['topic', topics[i]]);
      return p;
    }

    function closeStream() {
      clearTimeout(openTimer);
      openTimer = null;
      if (es) {
        es.onopen = es.onerror = null;
        es.close();
        es = null;
      }
    }

    // Opens the one EventSource for all topics. In 'poll' mode this is a probe: it must not
    // touch the visible state until it really opens.
    function openStream() {
      clearTimeout(probeTimer);
      closeStream();
      if (closed) return;
      var pairs = topicPairs().concat([['token', value(opts.token)], ['access_token', value(opts.accessToken)]]);
      // The browser resends Last-Event-ID only on its own reconnects; a fresh EventSource
      // needs the high-water mark in the query to resume without a gap.
      pairs.push(['last_event_id', lastId]);
      var src;
      try { src = new ES(base + 'api/events/stream?' + query(pairs)); } catch (e) { streamFailed(); return; }
      es = src;

      function onData(e) {
        if (src !== es) return;
        var env;
        try { env = JSON.parse(e.data); } catch (x) { return; }
        if (env && typeof env === 'object' && env.id == null && e.lastEventId) env.id = Number(e.lastEventId);
        deliver(env);
      }
      for (var i = 0; i < follow.types.length; i++) src.addEventListener(follow.types[i], onData);
      src.addEventListener('reset', function (e) {
        if (src !== es) return;
        var info = {};
        try { info = JSON.parse(e.data) || {}; } catch (x) { info = {}; }
        reset(info, e.lastEventId);
      });

      src.onopen = function () {
        if (src !== es) return;
        clearTimeout(openTimer);
        if (mode === 'poll') { mode = 'stream'; stopPolling(); }
        probeFails = 0;
        setState('live');
      };
      src.onerror = function () {
        if (src !== es) return;
        var now = Date.now();
        errTimes = errTimes.filter(function (t) { return now - t < ERROR_WINDOW_MS; });
        errTimes.push(now);
        // CLOSED: the browser gave up (non-200, wrong content type) and will not retry.
        if (mode === 'poll' || src.readyState === 2 || errTimes.length >= MAX_ERRORS) {
          streamFailed();
          return;
        }
        setState('connecting');
        // A token given as a function may have been renewed (a stream ends when its JWT
        // expires): reconnect ourselves with the current one, not the URL the browser holds.
        if (typeof opts.token === 'function' || typeof opts.accessToken === 'function') {
          closeStream();
          probeTimer = setTimeout(openStream, backoff(errTimes.length));
          return;
        }
        // Still CONNECTING: let the browser retry (it sends Last-Event-ID), but not forever.
        armOpenTimer(src);
      };
      armOpenTimer(src);
    }

    function armOpenTimer(src) {
      clearTimeout(openTimer);
      openTimer = setTimeout(function () { if (src === es) streamFailed(); }, OPEN_TIMEOUT_MS);
    }

    function streamFailed() {
      closeStream();
      errTimes = [];
      if (closed) return;
      if (mode !== 'poll') {
        mode = 'poll';
        if (state === 'live') setState('connecting');
        poll();
      }
      scheduleProbe();
    }

    function scheduleProbe() {
      clearTimeout(probeTimer);
      if (closed || !ES || parked) return;
      probeFails++;
      probeTimer = setTimeout(openStream, backoff(probeFails, streamRetryMs));
    }

    function stopPolling() {
      clearTimeout(pollTimer);
      pollTimer = null;
      pollGen++;              // a poll already in flight is ignored when it lands
      pollFails = 0;
    }

    // Without a position, a poll without `since` answers the head in last_id and no events:
    // that is "now", fixed before anything else starts.
    function fetchHead() {
      clearTimeout(pollTimer);
      pollTimer = null;
      if (closed) return;
      var gen = ++pollGen;
      var pairs = topicPairs().concat([['limit', 1], ['token', value(opts.token)]]);
      api('GET', base + 'api/events?' + query(pairs), null, value(opts.accessToken)).then(function (r) {
        if (gen !== pollGen || closed) return;
        if (r.status !== 200 || !r.json || typeof r.json.last_id !== 'number') return pollFailed(r);
        pollFails = 0;
        lastId = Math.max(lastId, r.json.last_id);
        haveCursor = true;
        start();
      }, function () {
        if (gen === pollGen && !closed) pollFailed(null);
      });
    }

    function start() {
      if (!haveCursor) fetchHead();
      else if (mode === 'stream') openStream();
      else poll();
    }

    function poll() {
      clearTimeout(pollTimer);
      pollTimer = null;
      if (closed || mode !== 'poll') return;
      var gen = ++pollGen;
      var since = lastId;
      var limit = POLL_LIMIT;
      var pairs = topicPairs().concat([['since', since], ['limit', limit], ['token', value(opts.token)]]);
      // fetch can send the JWT as a header, which keeps it out of access logs.
      api('GET', base + 'api/events?' + query(pairs), null, value(opts.accessToken)).then(function (r) {
        if (gen !== pollGen || closed) return;
        var j = r.json;
        if (r.status !== 200 || !j || !j.events || typeof j.events.length !== 'number') return pollFailed(r);
        pollFails = 0;
        setState('polling');
        var full = j.events.length >= limit;
        if (j.reset) {
          var why = j.reason === 'unknown_id' ? 'unknown_id' : 'history_expired';
          reset({ reason: why, last_event_id: since }, why === 'unknown_id' ? j.last_id : 0);
        }
        for (var i = 0; i < j.events.length; i++) deliver(j.events[i]);
        // On a full page last_id might be the log head rather than the last row returned;
        // only trust it when the page was complete.
        if (!full && typeof j.last_id === 'number' && j.last_id > lastId) lastId = j.last_id;
        if (mode === 'poll') pollTimer = setTimeout(poll, full ? 0 : pollMs);
      }, function () {
        if (gen === pollGen && !closed) pollFailed(null);
      });
    }

    // A failed poll, or a failed fetch of the head (which comes first, whatever the mode).
    function pollFailed(r) {
      pollFails++;
      setState('offline');
      call(opts.onError, r);
      var again = !haveCursor ? fetchHead : mode === 'poll' ? poll : null;
      if (again) pollTimer = setTimeout(again, Math.max(backoff(pollFails), retryAfterMs(r)));
    }

    // Coming back online should not wait out a 30 s backoff.
    function onOnline() {
      if (closed || state !== 'offline') return;
      pollFails = 0;
      if (!haveCursor) fetchHead();
      else if (mode === 'poll') { poll(); if (ES && !es && !parked) openStream(); }
    }

    // Hidden for hiddenMs: the stream goes, polling carries on from the same position (the
    // page keeps its events, at the poll's pace); shown again: a stream opens as a probe, which
    // takes over from polling once it is open, as after any fallback.
    function park() {
      hideTimer = null;
      if (closed || parked || !doc || doc.visibilityState !== 'hidden') return;
      parked = true;
      clearTimeout(probeTimer);
      if (mode === 'stream') {
        closeStream();
        errTimes = [];
        mode = 'poll';
        if (haveCursor) poll();
      } else {
        closeStream();        // a probe under way
      }
    }

    function onVisibility() {
      if (closed || !doc) return;
      if (doc.visibilityState === 'hidden') {
        if (!parked && hideTimer === null && ES && hiddenMs > 0) hideTimer = setTimeout(park, hiddenMs);
        return;
      }
      clearTimeout(hideTimer);
      hideTimer = null;
      if (!parked) return;
      parked = false;
      probeFails = 0;
      if (haveCursor) openStream();
      else mode = 'stream';   // the head's answer starts the stream
    }

    setState('connecting');
    start();
    if (root.addEventListener) root.addEventListener('online', onOnline);
    if (doc && doc.addEventListener) {
      doc.addEventListener('visibilitychange', onVisibility);
      onVisibility();         // opened in a background tab
    }

    return {
      close: function () {
        if (closed) return;
        closeStream();
        stopPolling();
        clearTimeout(probeTimer);
        clearTimeout(hideTimer);
        closed = true;
        if (root.removeEventListener) root.removeEventListener('online', onOnline);
        if (doc && doc.removeEventListener) doc.removeEventListener('visibilitychange', onVisibility);
      },
      state: function () { return state; },
      lastEventId: function () { return lastId; }
    };
  }

  var Pulse = { subscribe: subscribe, api: api, positions: positions, escapeHtml: escapeHtml, baseUrl: scriptFolder() };
  root.Pulse = Pulse;
  if (typeof module === 'object' && module && module.exports) module.exports = Pulse;
})(typeof window !== 'undefined' ? window : typeof globalThis !== 'undefined' ? globalThis : this);
