/*
 * live.html: /live.html?room=ID is a viewer's room page (status, viewers, the featured
 * product, the product list, chat and order toasts), updated live from topic room:ID;
 * without ?room= it lists the rooms to watch.
 * Server and user text only ever goes in through textContent.
 * ?transport=poll forces the polling fallback (handy to see it work).
 */
(function () {
  'use strict';

  var P = window.PulsePage;
  var $ = P.$, param = P.param, store = P.store, show = P.show, errorText = P.errorText, el = P.el;
  var clear = P.clear, num = P.num, formatVnd = P.formatVnd, image = P.image;
  var ID_RE = P.ID_RE;
  var STATUSES = { PENDING: 1, WAITING_STREAM: 1, LIVE: 1, ENDED: 1 };
  var STATUS_TEXT = { PENDING: 'Not started', WAITING_STREAM: 'Waiting for stream', LIVE: 'LIVE', ENDED: 'Ended' };
  var JWT_KEY = 'pulse.jwt';
  var CHAT_HISTORY = 50;
  var CHAT_KEEP = 200;          // messages kept on screen
  // Presence expires on the server (PULSE_PRESENCE_TTL_S, 60 s) unless refreshed; tests shorten it.
  var PRESENCE_MS = Number(window.PulsePresenceMs) > 0 ? Number(window.PulsePresenceMs) : 30000;

  function clockTime(iso) {
    var t = iso ? new Date(iso) : null;
    if (!t || isNaN(t.getTime())) return '';
    function two(x) { return (x < 10 ? '0' : '') + x; }
    return two(t.getHours()) + ':' + two(t.getMinutes());
  }
  function statusBadge(node, status) { P.badge(node, status, STATUSES, STATUS_TEXT); }

  // No room to show: only the message and a way back to the list.
  function noRoom() {
    $('room-body').hidden = true;
    $('status').hidden = true;
    $('viewers').hidden = true;
    $('back').hidden = false;
  }

  var roomId = param('room');
  if (roomId == null || roomId === '') { listView(); return; }
  roomView();

  function roomView() {
    var setConn = P.connBadge($('conn'), loadAll);
    $('room-view').hidden = false;
    $('title').textContent = roomId;
    if (!ID_RE.test(roomId)) {
      $('title').textContent = 'Live room';
      show($('error'), 'This link has an invalid room id.');
      setConn('offline');
      noRoom();
      return;
    }

    var jwt = store(JWT_KEY);
    var room = null;              // the latest room object on screen
    var products = [];
    var chatIds = {};             // message id -> true, so history and stream never double up
    // The log position each kind of state on screen reflects: a read that lands after a newer
    // event must not undo it, and an event the read already holds is not applied twice.
    var at = Pulse.positions();
    var loadTimer = null, refreshTimer = null, presenceTimer = null, sub = null;

    var thumbFailed = false;
    $('thumb').addEventListener('error', function () { thumbFailed = true; $('thumb').hidden = true; });

    // ---- room, status, viewers -------------------------------------------------------------
    function renderRoom(r) {
      if (!r || typeof r !== 'object' || (r.id != null && String(r.id) !== roomId)) return;
      room = r;
      $('title').textContent = r.title || 'Live room';
      document.title = (r.title || 'Live room') + ' — Pulse';
      statusBadge($('status'), r.status);
      show($('description'), r.description || '');
      var stats = [];
      if (r.totalOrders != null) stats.push(num(r.totalOrders) + (num(r.totalOrders) === 1 ? ' order' : ' orders'));
      if (r.totalRevenue != null && num(r.totalRevenue) > 0) stats.push(formatVnd(r.totalRevenue));
      $('stats').textContent = stats.length ? '· ' + stats.join(' · ') : '';
      var thumb = P.safeImageUrl(r.thumbnailUrl);
      if (thumb && $('thumb').getAttribute('src') !== thumb) { thumbFailed = false; $('thumb').src = thumb; }
      $('thumb').hidden = !thumb || thumbFailed;
      var stage = {
        PENDING: 'The live has not started yet.',
        WAITING_STREAM: 'Starting soon: waiting for the shop\'s video…',
        LIVE: '● LIVE',
        ENDED: 'This live has ended.'
      }[r.status] || '';
      $('stage-text').textContent = stage;
      $('stage').className = 'stage' + (r.status === 'LIVE' ? ' stage-live' : '');
      var ended = r.status === 'ENDED';
      $('ended-note').hidden = !ended;
      $('chat-input').disabled = ended;
      $('chat-send').disabled = ended;
      if (ended) $('chat-input').placeholder = 'Chat is closed: the live has ended.';
    }
    function renderViewers(count, peak) {
      if (count != null) $('viewer-count').textContent = String(Math.max(0, num(count)));
      if (peak != null) $('viewer-peak').textContent = String(Math.max(0, num(peak)));
    }

    // ---- products --------------------------------------------------------------------------
    function stockLine(p) {
      var bits = [];
      bits.push(num(p.soldCount) + ' sold');
      if (p.stockAvailable != null) bits.push(num(p.stockAvailable) + ' in stock');
      if (p.quantityLimit != null && num(p.quantityLimit) > 0) bits.push('limit ' + num(p.quantityLimit) + ' per order');
      return el('div', 'muted small', bits.join(' · '));
    }
    function renderProducts(list) {
      if (!list || typeof list.length !== 'number') return;
      products = P.sortProducts(list);
      var ul = $('products');
      clear(ul);
      var featured = null;
      for (var i = 0; i < products.length; i++) {
        var p = products[i];
        if (!p || typeof p !== 'object') continue;
        if (p.isFeatured && !featured) featured = p;
        var li = P.productItem(p, 'SELLING NOW', [stockLine(p)]);
        if (p.isFeatured) li.setAttribute('aria-current', 'true');
        ul.appendChild(li);
      }
      $('products-empty').hidden = products.length > 0;
      renderFeatured(featured);
    }
    function renderFeatured(p) {
      var box = $('featured');
      clear(box);
      if (!p) {
        box.removeAttribute('data-product-id');
        box.className = 'card featured featured-none';
        box.appendChild(el('p', 'muted', 'No product is highlighted yet.'));
        return;
      }
      box.className = 'card featured';
      box.setAttribute('data-product-id', String(p.id));
      box.appendChild(image(p.productImageUrl, 'featured-img'));
      var body = el('div', 'featured-body');
      body.appendChild(el('span', 'tag', 'SELLING NOW'));
      body.appendChild(el('div', 'featured-name', p.productName || p.productId || 'Product'));
      body.appendChild(P.priceBlock(p));
      body.appendChild(stockLine(p));
      box.appendChild(body);
    }

    // ---- chat ------------------------------------------------------------------------------
    function chatItem(m) {
      var type = String(m.type || 'CHAT').toUpperCase();
      var li = el('li', 'chat-msg' + (type !== 'CHAT' ? ' chat-' + type.toLowerCase() : ''));
      if (m.id != null) li.setAttribute('data-id', String(m.id));
      var time = clockTime(m.createdAt);
      if (time) { var t = el('time', 'chat-time', time); t.dateTime = String(m.createdAt); li.appendChild(t); }
      if (type === 'CHAT') li.appendChild(el('span', 'chat-user', (m.username || m.userId || 'someone') + ':'));
      li.appendChild(el('span', 'chat-text', m.message));
      return li;
    }
    function nearBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 40; }
    function addChat(m, stick) {
      if (!m || typeof m !== 'object' || m.message == null) return;
      if (m.id != null) {
        if (chatIds[String(m.id)]) return;
        chatIds[String(m.id)] = true;
      }
      var box = $('chat');
      var follow = stick || nearBottom(box);
      box.appendChild(chatItem(m));
      while (box.children.length > CHAT_KEEP) box.removeChild(box.firstChild);
      if (follow) box.scrollTop = box.scrollHeight;
    }
    function renderHistory(list) {
      if (!list || typeof list.length !== 'number') return;
      // Messages that came over the stream while the history was loading are newer than it.
      var box = $('chat');
      var live = [];
      for (var i = 0; i < box.children.length; i++) live.push(box.children[i]);
      clear(box);
      chatIds = {};
      for (var j = 0; j < list.length; j++) addChat(list[j], true);
      for (var k = 0; k < live.length; k++) {
        var id = live[k].getAttribute('data-id');
        if (id != null && chatIds[id]) continue;
        if (id != null) chatIds[id] = true;
        box.appendChild(live[k]);
      }
      box.scrollTop = box.scrollHeight;
    }

    // ---- orders ----------------------------------------------------------------------------
    // A toast, and the same line in the chat so it stays in view after the toast is gone.
    function toast(d) {
      P.orderToast(d);
      addChat({ type: 'ORDER', message: (d.username || 'Someone') + ' bought ' + (d.productName || 'a product'),
        createdAt: new Date().toISOString() });
    }

    // ---- loading ---------------------------------------------------------------------------
    function loadRoom() {
      return Pulse.api('GET', '/api/live/rooms/' + encodeURIComponent(roomId), null, null).then(function (r) {
        if (r.status === 200 && r.json) {
          show($('error'), '');
          if (at.read('room', r.eventId)) renderRoom(r.json);
          if (at.read('viewers', r.eventId)) renderViewers(r.json.viewerCount, r.json.peakViewers);
          follow(r.eventId);
          return true;
        }
        if (r.status === 404) {
          $('title').textContent = 'Room not found';
          show($('error'), 'There is no live room with this id.');
          if (sub) sub.close();
          clearInterval(presenceTimer);
          setConn('offline');
          noRoom();
          return false;
        }
        show($('error'), errorText(r, 'Could not load the room'));
        if (!sub) setConn('offline');
        if (r.status === 429 || r.status >= 500) retryLater();
        return false;
      });
    }
    function loadProducts() {
      return Pulse.api('GET', '/api/live/rooms/' + encodeURIComponent(roomId) + '/products', null, null).then(function (r) {
        if (r.status === 200 && r.json && at.read('products', r.eventId)) renderProducts(r.json.products);
      });
    }
    function loadChat() {
      return Pulse.api('GET', '/api/live/rooms/' + encodeURIComponent(roomId) + '/chat?limit=' + CHAT_HISTORY, null, null)
        .then(function (r) { if (r.status === 200 && r.json) renderHistory(r.json.messages); });
    }
    function loadAll() {
      clearTimeout(loadTimer);
      loadRoom().then(function (ok) {
        if (!ok) return;
        loadProducts();
        loadChat();
      }, function () {
        show($('error'), 'Could not reach the server; retrying.');
        retryLater();
      });
    }
    function retryLater() {
      clearTimeout(loadTimer);
      loadTimer = setTimeout(loadAll, 5000);
    }
    // An order changes sold counts and the room's totals; the service follows it with
    // `product` and `status` events. Refetch only if they do not come.
    function refreshSoon() {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(function () {
        loadRoom().then(function (ok) { if (ok) loadProducts(); }, function () {});
      }, 2000);
    }

    // ---- presence --------------------------------------------------------------------------
    // A viewer with a token is counted by its `sub`; a guest by its viewerId (kept for this
    // tab, so a reload is the same viewer, not one more).
    // The tab mints its guest id itself before the first join: with a slow server a second
    // join could otherwise leave before the first one's answer and count the tab twice.
    var GUEST_KEY = 'pulse.viewer_id';
    var guestId = store(GUEST_KEY);
    if (!guestId || !ID_RE.test(guestId) || guestId.indexOf('guest-') !== 0) {
      guestId = 'guest-' + Array.prototype.map.call(crypto.getRandomValues(new Uint8Array(8)),
        function (b) { return (b + 256).toString(16).slice(1); }).join('');
      store(GUEST_KEY, guestId);
    }
    var joinedAs = null;          // {jwt, guest} of the presence the server holds, or null
    function presencePath(action, who) {
      var q = !who.jwt && who.guest && ID_RE.test(who.guest) ? '?viewerId=' + encodeURIComponent(who.guest) : '';
      return '/api/live/rooms/' + encodeURIComponent(roomId) + '/' + action + q;
    }
    function join() {
      if (room && room.status === 'ENDED') return;
      var who = { jwt: jwt, guest: jwt ? null : guestId };
      Pulse.api('POST', presencePath('join', who), {}, who.jwt).then(function (r) {
        if (r.status !== 200 && r.status !== 201) return;
        if (!who.jwt && r.json && r.json.viewerId && ID_RE.test(String(r.json.viewerId))) {
          who.guest = guestId = String(r.json.viewerId);
          store(GUEST_KEY, guestId);
        }
        joinedAs = who;
        if (r.json && at.read('viewers', r.eventId)) renderViewers(r.json.count, r.json.peak);
      }, function () { /* the next refresh tries again */ });
    }
    function leave() {
      var who = joinedAs;
      if (!who) return;
      joinedAs = null;
      // sendBeacon cannot carry an Authorization header; a keepalive fetch can, and outlives the page.
      var headers = { 'Content-Type': 'application/json', 'Accept': 'application/json' };
      if (who.jwt) headers.Authorization = 'Bearer ' + who.jwt;
      try {
        fetch(presencePath('leave', who),
          { method: 'POST', headers: headers, body: '{}', keepalive: true, credentials: 'same-origin' })
          .catch(function () {});
      } catch (e) { /* the page is going away anyway */ }
    }
    function startPresence() {
      clearInterval(presenceTimer);
      join();
      presenceTimer = setInterval(join, PRESENCE_MS);
    }
    window.addEventListener('pagehide', function () { clearInterval(presenceTimer); leave(); });
    // Back from the back/forward cache: the page never reloaded, so join again.
    window.addEventListener('pageshow', function (e) { if (e.persisted) startPresence(); });

    // ---- chat sending & token --------------------------------------------------------------
    function renderWho() {
      var c = jwt ? P.jwtClaims(jwt) : null;
      var who = $('chat-who');
      if (!jwt) { who.textContent = 'Paste your access token below to chat.'; $('token-box').open = true; return; }
      who.textContent = 'Chatting as ' + (c && (c.name || c.sub) ? (c.name || c.sub) : 'you') +
        (c && c.exp && c.exp * 1000 < Date.now() ? ' (this token has expired)' : '');
    }
    if (jwt) $('jwt').value = jwt;
    renderWho();
    $('token-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var t = $('jwt').value.replace(/\s+/g, '');
      if (!t) { show($('chat-error'), 'Paste your access token first.'); return; }
      jwt = t;
      store(JWT_KEY, t);
      show($('chat-error'), '');
      $('token-box').open = false;
      renderWho();
      leave();              // the guest (or the previous token) stops counting at once
      startPresence();
    });
    $('jwt-clear').addEventListener('click', function () {
      jwt = null;
      store(JWT_KEY, null);
      $('jwt').value = '';
      renderWho();
      leave();
      startPresence();      // still watching, now as a guest
    });

    var sending = false;
    $('chat-form').addEventListener('submit', function (e) {
      e.preventDefault();
      if (sending) return;
      var input = $('chat-input');
      var text = input.value.trim();
      var err = $('chat-error');
      if (!text) return;
      if (text.length > 500) return show(err, 'A message is at most 500 characters.');
      if (!jwt) { $('token-box').open = true; return show(err, 'Paste your access token below to chat.'); }
      sending = true;
      $('chat-send').disabled = true;
      Pulse.api('POST', '/api/live/rooms/' + encodeURIComponent(roomId) + '/chat', { message: text }, jwt).then(function (r) {
        sending = false;
        $('chat-send').disabled = !!(room && room.status === 'ENDED');
        if (r.status === 201 || r.status === 200) {
          show(err, '');
          input.value = '';
          addChat(r.json, true);
          input.focus();
          return;
        }
        if (r.status === 429) {
          var s = parseInt(r.headers && r.headers.get('Retry-After'), 10);
          show(err, 'Slow down: at most 5 messages per second.' + (s > 0 ? ' Try again in ' + s + ' s.' : ''));
        } else if (r.status === 409) {
          show(err, 'The room has ended: chat is closed.');
          loadRoom();
        } else if (r.status === 401) {
          show(err, 'Your access token was not accepted (expired?). Paste a new one below.');
          $('token-box').open = true;
        } else {
          show(err, errorText(r, 'The message could not be sent'));
        }
      }, function () {
        sending = false;
        $('chat-send').disabled = false;
        show(err, 'Could not reach the server; the message was not sent.');
      });
    });

    // ---- live events -----------------------------------------------------------------------
    function onEvent(ev) {
      var d = ev.data || {};
      switch (ev.type) {
        case 'status':
          clearTimeout(refreshTimer);
          if (at.event('room', ev.id)) renderRoom(d);
          if ((d.viewerCount != null || d.peakViewers != null) && at.event('viewers', ev.id)) renderViewers(d.viewerCount, d.peakViewers);
          break;
        case 'product': if (at.event('products', ev.id)) renderProducts(d.products); break;
        case 'chat': addChat(d); break;
        case 'viewers': if (at.event('viewers', ev.id)) renderViewers(d.count, d.peak); break;
        case 'order': toast(d); refreshSoon(); break;
      }
    }

    var opts = {
      topics: ['room:' + roomId], onEvent: onEvent, onState: setConn,
      onReset: function (info) { at.reset(info); loadAll(); }
    };
    if (param('transport') === 'poll') opts.EventSource = null;
    // Follows the room from the position the room was read at (Pulse-Event-Id): every change
    // after that read arrives as an event, however the page streams, polls or falls back.
    function follow(eventId) {
      if (sub) return;
      opts.lastEventId = eventId;
      sub = Pulse.subscribe(opts);
    }
    loadAll();
    startPresence();
  }

  function listView() {
    $('list-view').hidden = false;
    function roomItem(r) {
      var li = el('li', 'room-item');
      li.setAttribute('data-room-id', String(r.id));
      var b = el('span', 'badge');
      statusBadge(b, r.status);
      li.appendChild(b);
      li.appendChild(document.createTextNode(' '));
      var a = el('a', null, r.title || String(r.id));
      a.href = '/live.html?room=' + encodeURIComponent(String(r.id));
      li.appendChild(a);
      if (r.status === 'LIVE') li.appendChild(el('span', 'muted', ' · ' + num(r.viewerCount) + ' watching'));
      return li;
    }
    function fill(ul, empty, rooms) {
      clear(ul);
      rooms = (rooms || []).filter(function (r) { return r && r.id != null && ID_RE.test(String(r.id)); });
      for (var i = 0; i < rooms.length; i++) ul.appendChild(roomItem(rooms[i]));
      empty.hidden = rooms.length > 0;
    }
    function load() {
      Pulse.api('GET', '/api/live/rooms?status=LIVE', null, null).then(function (r) {
        if (r.status === 200 && r.json) { fill($('live-rooms'), $('live-empty'), r.json.rooms); show($('list-error'), ''); }
        else show($('list-error'), errorText(r, 'Could not load the rooms'));
      }, function () { show($('list-error'), 'Could not reach the server.'); });
      Pulse.api('GET', '/api/live/rooms', null, null).then(function (r) {
        if (r.status === 200 && r.json) {
          var rooms = (r.json.rooms || []).slice().sort(function (a, b) {
            return String(b.createdAt || '').localeCompare(String(a.createdAt || ''));
          });
          fill($('all-rooms'), $('all-empty'), rooms);
        }
      }, function () {});
    }
    load();
    setInterval(load, 15000);
  }
})();
