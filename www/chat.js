/*
 * chat.html: a user's chats with the AI (seed 004). With the user's JWT (this tab only) it
 * lists their chat sessions; /chat.html?session=ID opens one: its history (oldest first),
 * then topic chat:ID followed from the history's Pulse-Event-Id. An answer still being
 * written shows its text so far at once and grows as chat.delta events come, with no gap
 * and no repeat, by stream or by polling; Stop cancels it. ?transport=poll forces polling.
 * Server and user text only ever goes in through textContent.
 */
(function () {
  'use strict';

  var P = window.PulsePage;
  var $ = P.$, show = P.show, el = P.el, clear = P.clear;
  var JWT_KEY = 'pulse.jwt';        // the same user token as the live room's
  var MAX_CHARS = 4000;
  var HISTORY = 200;                // the most a history read answers
  var RETRY_MS = 5000;              // a history read that failed on the way is tried again after this
  var ROLES = { user: 'You', assistant: 'AI' };
  var ENDED = { cancelled: 'Stopped.', error: 'The answer broke off.' };

  var jwt = null;
  var sid = null;                   // the open session
  var sub = null;
  var opens = 0;                    // each open() supersedes the one before
  var shown = {};                   // message id -> {m: message, li: node}
  var base = 0;                     // the log position the conversation on screen reflects
  var pending = null;               // while a history read is on its way: the events that came
  var reads = 0;                    // each history read supersedes the one before
  var retry = null;                 // the timer of a history read tried again
  var pageError = $('chat-error'), sendError = $('send-error');

  function api(method, path, body) { return Pulse.api(method, path, body, jwt); }
  function sessionPath(id, rest) { return 'api/chat/sessions/' + encodeURIComponent(id) + (rest || ''); }
  // An ISO time as local "YYYY-MM-DD HH:MM" (the service answers in UTC).
  function time(ts) {
    var t = ts ? new Date(ts) : null;
    if (!t || isNaN(t.getTime())) return String(ts || '');
    function two(x) { return (x < 10 ? '0' : '') + x; }
    return t.getFullYear() + '-' + two(t.getMonth() + 1) + '-' + two(t.getDate()) + ' ' +
      two(t.getHours()) + ':' + two(t.getMinutes());
  }
  // Characters as the server counts them (code points), not UTF-16 units.
  function chars(s) { return s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '_').length; }

  // Says why the service refused; 403 and 401 read the same wherever they come from.
  function refusal(r, fallback) {
    if (!r) return 'Cannot reach the server.';
    if (r.status === 401) return 'Your access token was not accepted (expired?). Paste a new one.';
    if (r.status === 403) return 'This chat belongs to someone else.';
    if (r.status === 404) return 'There is no such chat.';
    return P.errorText(r, fallback);
  }

  // ---- sign-in and the session list ------------------------------------------------------
  function signIn(t) {
    var claims = t ? P.jwtClaims(t) : null, who = $('whoami');
    jwt = t || null;
    close();
    show(pageError, '');
    if (!jwt || !claims || !claims.sub) {
      who.textContent = jwt ? 'This does not look like a JWT.' : 'Not signed in: paste your access token.';
      who.className = jwt ? 'error' : 'muted';
      $('chat-app').hidden = true;
      return;
    }
    var expired = claims.exp && claims.exp * 1000 < Date.now();
    who.textContent = 'Signed in as ' + (claims.name || claims.sub) + (expired ? ' · this token has expired' : '');
    who.className = expired ? 'error' : 'muted';
    $('chat-app').hidden = false;
    loadSessions().then(function (list) {
      var want = P.param('session');
      if (want) open(want);
      else if (list && list.length) open(list[0].id);
    });
  }

  function loadSessions() {
    return api('GET', 'api/chat/sessions').then(function (r) {
      if (r.status !== 200 || !r.json) { show(pageError, refusal(r, 'Cannot list your chats')); return null; }
      renderSessions(r.json.sessions || []);
      return r.json.sessions || [];
    }, function () { show(pageError, refusal(null)); return null; });
  }

  function renderSessions(list) {
    var ul = $('sessions');
    clear(ul);
    list.forEach(function (s) {
      var li = el('li', 'room-item' + (s.id === sid ? ' room-selected' : ''));
      li.setAttribute('data-session-id', s.id);
      var b = el('button', 'secondary small-btn', 'Chat of ' + time(s.createdAt));
      b.type = 'button';
      if (s.id === sid) b.setAttribute('aria-current', 'true');
      b.addEventListener('click', function () { open(s.id); });
      li.appendChild(b);
      ul.appendChild(li);
    });
    $('sessions-empty').hidden = list.length > 0;
  }

  $('new-session').addEventListener('click', function () {
    api('POST', 'api/chat/sessions', {}).then(function (r) {
      if (r.status !== 201 && r.status !== 200) return show(pageError, refusal(r, 'Cannot start a chat'));
      show(pageError, '');
      var id = r.json.id;
      loadSessions().then(function () { open(id); });
    }, function () { show(pageError, refusal(null)); });
  });

  // ---- one conversation ------------------------------------------------------------------
  function close() {
    opens++;
    reads++;
    clearTimeout(retry);
    if (sub) { sub.close(); sub = null; }
    sid = null;
    pending = null;
    shown = {};
    clear($('messages'));
    $('conversation').hidden = true;
    $('conn').hidden = true;
    show(sendError, '');
    streamingChanged();
  }

  // Reads the history, then follows chat:ID from the position it reflects. A read that
  // failed on the way (not a refusal) is tried again.
  function open(id) {
    close();
    if (!P.ID_RE.test(id)) return show(pageError, 'This link has an invalid chat id.');
    sid = id;
    var mine = opens, following = false;
    show(pageError, '');
    var badge = P.connBadge($('conn'), loadHistory);
    badge('connecting');
    $('conn').hidden = false;
    if (history.replaceState) history.replaceState(null, '', '?session=' + encodeURIComponent(id));
    Array.prototype.forEach.call($('sessions').children, function (li) {
      var on = li.getAttribute('data-session-id') === id;
      li.className = 'room-item' + (on ? ' room-selected' : '');
      if (on) li.firstChild.setAttribute('aria-current', 'true'); else li.firstChild.removeAttribute('aria-current');
    });
    loadHistory().then(function (read) {
      if (mine !== opens || read.gone) return;
      if (!read.ok) { retry = setTimeout(function () { if (mine === opens) open(id); }, RETRY_MS); return; }
      var opts = {
        topics: ['chat:' + id], accessToken: jwt, lastEventId: read.at, on: FOLLOW,
        onReset: loadHistory,
        onState: function (s) {
          badge(s);
          if (following && (s === 'live' || s === 'polling')) { following = false; show(pageError, ''); }
        },
        onError: function (r) { following = true; show(pageError, refusal(r, 'Cannot follow this chat')); }
      };
      if (P.param('transport') === 'poll') opts.EventSource = null;
      sub = Pulse.subscribe(opts);
    });
  }

  // Replaces the conversation by the history; the events that came while it was on its way
  // are applied again on top, those newer than its position only. Resolves {ok, at} (at: that
  // position, null if the read carried none), {gone} when the chat is not the caller's or
  // does not exist, {} when the read failed otherwise or a later one superseded it.
  function loadHistory() {
    var id = sid, mine = ++reads;
    pending = [];
    function landed() {
      if (mine !== reads || id !== sid) return null;
      var queued = pending;
      pending = null;
      return queued;
    }
    return api('GET', sessionPath(id, '/messages?limit=' + HISTORY)).then(function (r) {
      var queued = landed();
      if (!queued) return {};
      if (r.status !== 200 || !r.json) {
        show(pageError, refusal(r, 'Cannot load this chat'));
        var gone = r.status === 403 || r.status === 404;
        $('conversation').hidden = gone || !$('messages').firstChild;
        $('conn').hidden = gone;
        queued.forEach(apply);
        return { gone: gone };
      }
      base = r.eventId || 0;
      shown = {};
      clear($('messages'));
      (r.json.messages || []).forEach(put);
      $('conversation').hidden = false;
      queued.forEach(apply);
      settled();
      return { ok: true, at: r.eventId };
    }, function () {
      var queued = landed();
      if (!queued) return {};
      show(pageError, refusal(null));
      queued.forEach(apply);
      return {};
    });
  }

  // ---- what each event on chat:ID changes ------------------------------------------------
  function ended(status) {
    return function (d) {
      var m = known(d.messageId);
      m.content = String(d.content == null ? m.content : d.content);
      m.status = status;
      m.note = d.message;
      put(m);
    };
  }
  // What each type changes, given the event's data.
  var CHANGES = {
    'chat.message': function (d) { if (d.id && !shown[d.id]) put(d); },
    'chat.delta': function (d) {
      var m = known(d.messageId);
      if (m.status !== 'streaming') return;   // a cancel answered first: its text is the answer's
      m.content += String(d.delta == null ? '' : d.delta);
      put(m);
    },
    'chat.done': ended('complete'),
    'chat.cancelled': ended('cancelled'),
    'chat.error': ended('error')
  };
  // The types the page follows (Pulse.subscribe listens for exactly these), all through apply.
  var FOLLOW = {};
  Object.keys(CHANGES).forEach(function (t) { FOLLOW[t] = apply; });

  function apply(ev) {
    if (pending) { pending.push(ev); return; }
    if (Number(ev.id) <= base) return;      // the history on screen holds it already
    if (!Object.prototype.hasOwnProperty.call(CHANGES, ev.type)) return;
    CHANGES[ev.type](ev.data || {});
    settled();
  }

  // The message as shown, or an empty streaming answer when its start is not on screen.
  function known(id) {
    if (!shown[id]) put({ id: id, role: 'assistant', content: '', status: 'streaming' });
    return shown[id].m;
  }

  // ---- rendering -------------------------------------------------------------------------
  function put(m) {
    if (!m || !m.id) return;
    var box = $('messages');
    var follow = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    var old = shown[m.id];
    var item = { m: { id: m.id, role: m.role, content: String(m.content || ''), status: m.status, note: m.note },
      li: old ? old.li : el('li') };
    var li = item.li;
    shown[m.id] = item;
    li.className = 'chat-msg ai-msg ai-' + (m.role === 'user' ? 'user' : 'assistant') + ' ai-' + m.status;
    li.setAttribute('data-message-id', m.id);
    li.setAttribute('data-status', String(m.status));
    clear(li);
    li.appendChild(el('span', 'chat-user', ROLES[m.role] || String(m.role)));
    li.appendChild(el('div', 'ai-text', item.m.content));
    if (ENDED[m.status]) li.appendChild(el('div', 'ai-note small', ENDED[m.status] + (m.note && m.status === 'error' ? ' (' + m.note + ')' : '')));
    if (!old) box.appendChild(li);
    if (follow || !old) box.scrollTop = box.scrollHeight;
  }

  // The answer being written, if any: Stop shows while there is one.
  function streamingId() {
    for (var id in shown) if (shown[id].m.status === 'streaming' && shown[id].m.role === 'assistant') return id;
    return null;
  }
  function settled() {
    $('messages-empty').hidden = !!$('messages').firstChild;
    streamingChanged();
  }
  function streamingChanged() {
    var id = sid ? streamingId() : null;
    $('stop').hidden = !id;
    if (!id) $('stop').disabled = false;
  }

  // ---- sending and stopping --------------------------------------------------------------
  var input = $('message');
  function counted() {
    var n = chars(input.value);
    $('message-count').textContent = n + ' / ' + MAX_CHARS;
    $('message-count').className = n > MAX_CHARS ? 'error small' : 'muted small';
  }
  input.addEventListener('input', counted);

  $('composer').addEventListener('submit', function (e) {
    e.preventDefault();
    var id = sid, text = input.value.trim();
    if (!id) return;
    if (!text) return show(sendError, 'Write a message first.');
    if (chars(text) > MAX_CHARS) return show(sendError, 'A message is at most ' + MAX_CHARS + ' characters.');
    show(sendError, '');
    $('send').disabled = true;
    api('POST', sessionPath(id, '/messages'), { message: text }).then(function (r) {
      $('send').disabled = false;
      if (id !== sid) return;
      if (r.status !== 202 || !r.json) return show(sendError, sendRefusal(r));
      show(sendError, '');
      input.value = '';
      counted();
      // The events may have come first: a message already shown is left as it is.
      [r.json.userMessage, r.json.assistantMessage].forEach(function (m) { if (m && !shown[m.id]) put(m); });
      settled();
    }, function () { $('send').disabled = false; show(sendError, refusal(null)); });
  });

  function sendRefusal(r) {
    var code = r.json && r.json.error && r.json.error.code;
    if (r.status === 409 && code === 'answer_streaming') return 'Wait for the answer to finish, or stop it, before you send another message.';
    if (r.status === 429) {
      var s = parseInt(r.headers && r.headers.get('Retry-After'), 10);
      return 'You are sending too many messages.' + (s > 0 ? ' Try again in ' + s + ' s.' : ' Try again later.');
    }
    return refusal(r, 'The message was not sent');
  }

  $('stop').addEventListener('click', function () {
    var id = sid, mid = streamingId();
    if (!mid) return;
    $('stop').disabled = true;
    api('POST', sessionPath(id, '/messages/' + encodeURIComponent(mid) + '/cancel'), {}).then(function (r) {
      if (id !== sid) return;
      $('stop').disabled = false;
      if (r.status === 200 && r.json) {
        // The chat.cancelled event carries the same; whichever comes first ends the answer.
        if (shown[mid] && shown[mid].m.status === 'streaming') put(r.json);
      } else if (r.status !== 409) {
        show(sendError, refusal(r, 'The answer could not be stopped'));
      }
      settled();
    }, function () { $('stop').disabled = false; show(sendError, refusal(null)); });
  });

  P.signInCard({
    mount: $('sign-in'), key: JWT_KEY, label: 'Your access token (JWT)', error: pageError,
    onChange: function (t) { signIn(t); }
  });
})();
