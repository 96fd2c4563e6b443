/*
 * pulse.js: browser client for Pulse (see API.md, "Events" and "Polling fallback").
 *
 *   var sub = Pulse.subscribe({
 *     topics: ['topup:TX1'], token: null, accessToken: null, lastEventId: null, base: '',
 *     types: [],                          // extra SSE event names to listen for
 *     onEvent: function (envelope) {},    // {id, topic, type, ts, data}, each id once, in order
 *     onReset: function (info) {},        // {reason, last_event_id}: refetch state
 *     onState: function (state) {},       // 'connecting' | 'live' | 'polling' | 'offline'
 *     onError: function (response) {},    // failed poll: {status, json, headers} or null
 *     pollIntervalMs: 2000, streamRetryMs: 30000
 *   });
 *   sub.close(); sub.state(); sub.lastEventId();
 *
 * lastEventId: null/absent = from now on; 0 = everything retained; N = everything after N.
 * EventSource: null forces polling. Pulse.api(method, path, body, jwt) -> Promise of
 * {status, json, headers}; Pulse.escapeHtml(s).
 *
 * Plain ES5 plus Promise/fetch/EventSource, so it loads as a classic <script>.
 */
(function (root) {
  'use strict';

  // EventSource only dispatches named events to listeners registered for that exact name,
  // so every type the service emits has to be listed (callers may add more via opts.types).
  var DEFAULT_TYPES = ['topup.status', 'status', 'product', 'chat', 'viewers', 'order',
    'new_conversation', 'new_message', 'customer_created', 'customer_updated',
    'customer_deleted', 'conversation_updated', 'message_sent', 'message'];
  var OPEN_TIMEOUT_MS = 10000;   // a proxy that buffers SSE never fires onopen
  var ERROR_WINDOW_MS = 30000;   // this many errors within the window means "flapping"
  var MAX_ERRORS = 3;
  var MAX_BACKOFF_MS = 30000;
  var POLL_LIMIT = 100;

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
    return root.fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        return { status: res.status, json: json, headers: res.headers };
      });
    });
  }

  function query(pairs) {
    var out = [];
    for (var i = 0; i < pairs.length; i++) {
      var v = pairs[i][1];
      if (v === null || v === undefined || v === '') continue;
      out.push(encodeURIComponent(pairs[i][0]) + '=' + encodeURIComponent(String(v)));
    }
    return out.join('&');
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
    var base = opts.base || '';
    var pollMs = opts.pollIntervalMs || 2000;
    var streamRetryMs = opts.streamRetryMs || 30000;
    // Injectable; EventSource: null forces polling (old browsers, or to test the fallback).
    var ES = 'EventSource' in opts ? opts.EventSource : root.EventSource;
    var types = DEFAULT_TYPES.concat(opts.types || []);
    var lastId = Number(opts.lastEventId) > 0 ? Number(opts.lastEventId) : 0;
    // No lastEventId means "from now", like a fresh EventSource; 0 means "all retained".
    // Until we hold a real position, polling must skip history instead of replaying it.
    var haveCursor = opts.lastEventId != null && opts.lastEventId !== '';

    var state = null, closed = false;
    var mode = ES ? 'stream' : 'poll';   // 'poll' = polling is the transport, streams are probes
    var es = null, openTimer = null, errTimes = [];
    var pollTimer = null, pollGen = 0, pollFails = 0;
    var probeTimer = null, probeFails = 0;

    function setState(s) {
      if (closed || s === state) return;
      state = s;
      call(opts.onState, s);
    }

    // The single entry point for events from both transports: the stream replay and a poll
    // in flight can overlap at a switch-over, so ids at or below the high-water mark are dropped.
    function deliver(env) {
      if (closed || !env || typeof env !== 'object') return;
      var id = Number(env.id);
      if (id > 0) {
        if (id <= lastId) return;
        lastId = id;
        haveCursor = true;
      }
      call(opts.onEvent, env);
    }

    function reset(info) {
      // unknown_id: the log was replaced and ids start over lower than ours; keeping the old
      // high-water mark would silently drop every new event.
      if (info && info.reason === 'unknown_id') lastId = 0;
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
      var pairs = topicPairs().concat([['token', opts.token], ['access_token', opts.accessToken]]);
      // The browser resends Last-Event-ID only on its own reconnects; a fresh EventSource
      // needs the high-water mark in the query to resume without a gap.
      if (haveCursor) pairs.push(['last_event_id', lastId]);
      var src;
      try { src = new ES(base + '/api/events/stream?' + query(pairs)); } catch (e) { streamFailed(); return; }
      es = src;

      function onData(e) {
        if (src !== es) return;
        var env;
        try { env = JSON.parse(e.data); } catch (x) { return; }
        if (env && typeof env === 'object' && env.id == null && e.lastEventId) env.id = Number(e.lastEventId);
        deliver(env);
      }
      for (var i = 0; i < types.length; i++) src.addEventListener(types[i], onData);
      src.addEventListener('reset', function (e) {
        if (src !== es) return;
        var info = {};
        try { info = JSON.parse(e.data) || {}; } catch (x) { info = {}; }
        reset(info);
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
        // Still CONNECTING: let the browser retry (it sends Last-Event-ID), but not forever.
        setState('connecting');
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
      if (closed || !ES) return;
      probeFails++;
      probeTimer = setTimeout(openStream, backoff(probeFails, streamRetryMs));
    }

    function stopPolling() {
      clearTimeout(pollTimer);
      pollTimer = null;
      pollGen++;              // a poll already in flight is ignored when it lands
      pollFails = 0;
    }

    function poll() {
      clearTimeout(pollTimer);
      pollTimer = null;
      if (closed || mode !== 'poll') return;
      var gen = ++pollGen;
      var since = lastId;
      var skip = !haveCursor;
      var limit = skip ? 1000 : POLL_LIMIT;
      var pairs = topicPairs().concat([['since', since], ['limit', limit], ['token', opts.token]]);
      // fetch can send the JWT as a header, which keeps it out of access logs.
      api('GET', base + '/api/events?' + query(pairs), null, opts.accessToken).then(function (r) {
        if (gen !== pollGen || closed) return;
        var j = r.json;
        if (r.status !== 200 || !j || !j.events || typeof j.events.length !== 'number') return pollFailed(r);
        pollFails = 0;
        setState('polling');
        var full = j.events.length >= limit;
        if (skip) {
          // Catching up to the head without delivering: page until a short page arrives.
          for (var k = 0; k < j.events.length; k++) lastId = Math.max(lastId, Number(j.events[k].id) || 0);
          if (typeof j.last_id === 'number' && j.last_id > lastId) lastId = j.last_id;
          if (!full) haveCursor = true;
          pollTimer = setTimeout(poll, full ? 0 : pollMs);
          return;
        }
        if (j.reset) reset({ reason: 'history_expired', last_event_id: since });
        else if (!j.events.length && j.last_id > 0 && j.last_id < since) {
          // The poll twin of the stream's unknown_id: the log head is behind our position.
          // (0 is not trusted: a server may use it for "nothing new".)
          reset({ reason: 'unknown_id', last_event_id: since });
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

    function pollFailed(r) {
      pollFails++;
      setState('offline');
      call(opts.onError, r);
      if (mode === 'poll') pollTimer = setTimeout(poll, Math.max(backoff(pollFails), retryAfterMs(r)));
    }

    // Coming back online should not wait out a 30 s backoff.
    function onOnline() {
      if (closed || state !== 'offline') return;
      if (mode === 'poll') { pollFails = 0; poll(); if (ES && !es) openStream(); }
    }

    setState('connecting');
    if (mode === 'stream') openStream(); else poll();
    if (root.addEventListener) root.addEventListener('online', onOnline);

    return {
      close: function () {
        if (closed) return;
        closeStream();
        stopPolling();
        clearTimeout(probeTimer);
        closed = true;
        if (root.removeEventListener) root.removeEventListener('online', onOnline);
      },
      state: function () { return state; },
      lastEventId: function () { return lastId; }
    };
  }

  var Pulse = { subscribe: subscribe, api: api, escapeHtml: escapeHtml, DEFAULT_TYPES: DEFAULT_TYPES.slice() };
  root.Pulse = Pulse;
  if (typeof module === 'object' && module && module.exports) module.exports = Pulse;
})(typeof window !== 'undefined' ? window : typeof globalThis !== 'undefined' ? globalThis : this);
