/*
 * inbox.html: the agents' CRM inbox (seed 003). With an agent (or admin) JWT, kept in
 * sessionStorage (this tab only), it lists conversations and customers and follows topic
 * crm: a customer's message on Facebook, Zalo or TikTok appears at once (new_conversation,
 * new_message), as do other agents' answers and changes; no polling, no reload. Server and
 * user text only ever goes in through textContent.
 */
(function () {
  'use strict';

  var P = window.PulsePage;
  var $ = P.$, show = P.show, el = P.el, clear = P.clear;
  var STATUSES = { OPEN: 1, PENDING: 1, CLOSED: 1 };
  var JWT_KEY = 'pulse.agent_jwt';

  var jwt = null;
  var sub = null;
  var convs = {};               // id -> conversation, as last seen
  var customers = {};           // id -> customer
  var inflight = [];            // per list request on its way: the events seen since it left
  var signIns = 0;              // a sign-in's subscription waits for its lists; a later one wins
  var selected = null;          // id of the open conversation
  var shown = {};               // ids of the messages in #messages
  var pos = Pulse.positions();  // 'conv:ID' -> the newest event applied to that conversation
  var inboxError = $('inbox-error');

  function errorText(r, fallback) { return P.errorText(r, fallback, true); }
  function api(method, path, body) { return Pulse.api(method, path, body, jwt); }
  function convPath(id, rest) { return 'api/crm/conversations/' + encodeURIComponent(id) + (rest || ''); }
  function time(ts) { return ts ? String(ts).replace('T', ' ').replace('Z', '') : ''; }

  // ---- sign-in ---------------------------------------------------------------------------
  function signIn(t) {
    var claims = t ? P.jwtClaims(t) : null, who = $('whoami');
    var gen = ++signIns;
    jwt = t || null;
    if (sub) { sub.close(); sub = null; }
    if (!jwt || !claims || !claims.sub) {
      who.textContent = jwt ? 'This does not look like a JWT.' : 'Not signed in: paste an access token with role agent.';
      who.className = jwt ? 'error' : 'muted';
      $('inbox').hidden = true;
      return;
    }
    var note = claims.role === 'agent' || claims.role === 'admin' ? '' :
      ' · role ' + (claims.role || 'none') + ': the inbox needs role agent';
    if (claims.exp && claims.exp * 1000 < Date.now()) note += ' · this token has expired';
    who.textContent = 'Signed in as ' + (claims.name || claims.sub) + note;
    who.className = note ? 'error' : 'muted';
    $('inbox').hidden = false;
    // Load first, then follow topic crm from the oldest position the lists were read at
    // (Pulse-Event-Id): every change after a read arrives as an event, whatever the order.
    loadAll().then(function (at) {
      if (gen !== signIns) return;
      sub = Pulse.subscribe({
        topics: ['crm'], accessToken: jwt, lastEventId: at,
        on: APPLY, onEvent: record, onReset: function (info) { pos.reset(info); loadAll(); },
        onState: P.connBadge($('conn'), loadAll),
        onError: function (r) { show(inboxError, errorText(r, 'Cannot follow the inbox')); }
      });
    });
  }

  // ---- state from the service ------------------------------------------------------------
  // Reads a list; when it lands, replace(json) puts it on the page and the events that arrived
  // while it was on its way are applied again on top, those newer than its position only:
  // the page then shows the state at the newest event, whatever the order they landed in.
  // Resolves the read's position (null when it failed or carried none).
  function loadList(path, replace, what) {
    var seen = [];
    inflight.push(seen);
    function done() { inflight.splice(inflight.indexOf(seen), 1); }
    return api('GET', path).then(function (r) {
      done();
      if (r.status !== 200) { show(inboxError, errorText(r, 'Cannot load the ' + what)); return null; }
      replace(r.json);
      seen.forEach(function (ev) { if (r.eventId == null || ev.id > r.eventId) apply(ev); });
      return r.eventId;
    }, function () { done(); show(inboxError, 'Cannot reach the server.'); return null; });
  }

  // Both lists; resolves the older of their positions (what a subscription must start from).
  function loadAll() {
    return Promise.all([
      loadList('api/crm/conversations?limit=500', function (j) {
        show(inboxError, '');
        convs = {};
        (j.conversations || []).forEach(function (c) { convs[c.id] = c; });
        renderConvs();
        if (selected) loadMessages(selected);
      }, 'conversations'),
      loadList('api/crm/customers?limit=500', function (j) {
        customers = {};
        (j.customers || []).forEach(function (c) { customers[c.id] = c; });
        renderCustomers();
      }, 'customers')
    ]).then(function (at) {
      var known = at.filter(function (n) { return n != null; });
      return known.length ? Math.min.apply(null, known) : null;
    });
  }

  function loadMessages(id) {
    loadList(convPath(id, '/messages?limit=200'), function (j) {
      if (id !== selected) return;
      clear($('messages'));
      shown = {};
      (j.messages || []).forEach(addMessage);
    }, 'messages');
  }

  // Every event followed: a list read on its way applies it again when it lands (loadList).
  function record(ev) {
    inflight.forEach(function (seen) { seen.push(ev); });
  }

  // ---- what each event on topic crm changes ----------------------------------------------
  // Events come in log order and are always applied (a list read re-applies those newer than
  // it); each also moves its conversation's position, which a write's answer is checked
  // against (it may land after a newer event of the same conversation).
  function convMoved(id, ev) { pos.event('conv:' + id, ev.id); }
  function convChanged(ev) {
    var d = ev.data || {};
    convMoved(d.id, ev);
    convs[d.id] = d;
    renderConvs();
    if (d.id === selected) renderThreadHead();
  }
  function messageArrived(ev) {
    var d = ev.data || {};
    // The service dates the conversation on arrival; the message carries the platform's
    // time, which may be older: never move a conversation back.
    if (convs[d.conversationId] && d.sentAt > (convs[d.conversationId].lastMessageAt || '')) {
      convMoved(d.conversationId, ev);
      convs[d.conversationId].lastMessageAt = d.sentAt;
      renderConvs();
    }
    if (d.conversationId === selected) addMessage(d);
  }
  // An agent's answer as its platform has it: sending -> sent -> delivered -> read, or
  // failed. Events come in log order, but the POST's own answer may land after them: the
  // furthest status wins.
  var RANK = { sending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };
  var latest = {};
  function statusChanged(ev) {
    var d = ev.data || {};
    var was = latest[d.id];
    if (!was || RANK[d.status] >= RANK[was.status]) latest[d.id] = d;
    var li = document.querySelector('#messages [data-message-id="' + CSS.escape(String(d.id)) + '"]');
    if (li) renderStatus(li, latest[d.id]);
  }
  function customerChanged(ev) {
    var d = ev.data || {};
    customers[d.id] = d;
    Object.keys(convs).forEach(function (k) {
      if (convs[k].customerId === d.id) { convMoved(k, ev); convs[k].customerName = d.name; }
    });
    renderCustomers();
    renderConvs();
  }
  function customerDeleted(ev) {
    var d = ev.data || {};
    delete customers[d.id];
    Object.keys(convs).forEach(function (k) { if (convs[k].customerId === d.id) delete convs[k]; });
    if (selected && !convs[selected]) select(null);
    renderCustomers();
    renderConvs();
  }
  // The types the inbox follows (Pulse.subscribe listens for exactly these).
  var APPLY = {
    new_conversation: convChanged, conversation_updated: convChanged,
    new_message: messageArrived, message_sent: messageArrived, message_status: statusChanged,
    customer_created: customerChanged, customer_updated: customerChanged,
    customer_deleted: customerDeleted
  };
  function apply(ev) {
    if (Object.prototype.hasOwnProperty.call(APPLY, ev.type)) APPLY[ev.type](ev);
  }

  // ---- rendering -------------------------------------------------------------------------
  function renderConvs() {
    var list = $('convs'), ids = Object.keys(convs);
    ids.sort(function (a, b) {
      var x = convs[a].lastMessageAt || '', y = convs[b].lastMessageAt || '';
      return x < y ? 1 : x > y ? -1 : (a < b ? -1 : 1);
    });
    clear(list);
    ids.forEach(function (id) {
      var c = convs[id];
      var li = el('li', 'room-item' + (id === selected ? ' room-selected' : ''));
      li.setAttribute('data-conv-id', id);
      li.appendChild(el('span', 'room-title', c.customerName));
      li.appendChild(el('span', 'muted', c.platform + ' · ' + c.channelId + ' · ' + time(c.lastMessageAt)));
      var b = el('span');
      P.badge(b, c.status, STATUSES);
      li.appendChild(b);
      var open = el('button', 'secondary', 'Open');
      open.type = 'button';
      open.addEventListener('click', function () { select(id); });
      li.appendChild(open);
      list.appendChild(li);
    });
    $('convs-empty').hidden = ids.length > 0;
  }

  function renderCustomers() {
    var list = $('customers');
    clear(list);
    Object.keys(customers).sort().forEach(function (id) {
      var c = customers[id];
      var li = el('li', 'room-item');
      li.setAttribute('data-customer-id', id);
      li.appendChild(el('span', 'room-title', c.name));
      li.appendChild(el('span', 'muted', [c.phone, c.email, c.platform].filter(Boolean).join(' · ')));
      list.appendChild(li);
    });
  }

  function renderThreadHead() {
    var c = convs[selected];
    if (!c) return;
    $('thread-title').textContent = c.customerName + ' · ' + c.platform;
    $('thread-status').value = c.status;
  }

  function addMessage(m) {
    if (shown[m.id]) return;
    shown[m.id] = true;
    var li = el('li', 'chat-msg');
    li.setAttribute('data-message-id', m.id);
    li.appendChild(el('span', 'chat-time', time(m.sentAt)));
    li.appendChild(el('span', 'chat-user', m.sender === 'agent' ? 'Agent ' + (m.agentId || '') : 'Customer'));
    li.appendChild(el('span', null, m.content));
    if (m.sender === 'agent' && m.status) {
      var was = latest[m.id];
      if (!was || RANK[m.status] > RANK[was.status]) latest[m.id] = m;
      renderStatus(li, latest[m.id]);
    }
    var box = $('messages');
    box.appendChild(li);
    box.scrollTop = box.scrollHeight;
  }

  // The status line under an agent's answer; a failure says why.
  function renderStatus(li, m) {
    var span = li.querySelector('.msg-status');
    if (!span) {
      span = el('span', 'msg-status', '');
      li.appendChild(span);
    }
    span.setAttribute('data-status', m.status);
    span.textContent = m.status === 'failed' && m.error ? 'failed: ' + m.error : m.status;
  }

  function select(id) {
    selected = id;
    $('thread').hidden = !id;
    clear($('messages'));
    shown = {};
    renderConvs();
    if (!id) return;
    renderThreadHead();
    loadMessages(id);
  }

  // ---- actions ---------------------------------------------------------------------------
  $('thread-status').addEventListener('change', function () {
    var id = selected, status = $('thread-status').value;
    api('PATCH', convPath(id), { status: status }).then(function (r) {
      if (r.status !== 200) return show(inboxError, errorText(r, 'Cannot change the status'));
      // The answer is the conversation at the change's position: an event of it newer than
      // that (the customer wrote again and reopened it) is already on screen and stays.
      if (!pos.read('conv:' + id, r.eventId)) return;
      convs[id] = r.json;
      renderConvs();
      if (id === selected) renderThreadHead();
    });
  });

  $('reply-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var id = selected, text = $('reply').value;
    if (!id || !text.trim()) return show($('reply-error'), 'Write an answer first.');
    $('reply-send').disabled = true;
    api('POST', convPath(id, '/messages'), { content: text }).then(function (r) {
      $('reply-send').disabled = false;
      if (r.status !== 201) return show($('reply-error'), errorText(r, 'The answer was not sent'));
      show($('reply-error'), '');
      $('reply').value = '';
      if (id === selected) addMessage(r.json);
    });
  });

  P.signInCard({
    mount: $('sign-in'), key: JWT_KEY, label: 'Your agent access token (JWT)', error: inboxError,
    onChange: function (t, how) {
      if (how === 'forgotten') select(null);
      signIn(t);
    }
  });
})();
