/*
 * live.html: /live.html?room=ID is a viewer's room page (status, the live video while the
 * room is LIVE, viewers, the featured product, the product list, chat and order toasts),
 * updated live from topic room:ID;
 * without ?room= it lists the rooms to watch.
 * Server and user text only ever goes in through textContent.
 * ?transport=poll forces the polling fallback (handy to see it work).
 *
 * The room page is built from parts, each owning its corner of the page: roomHeader (title,
 * status, stage, viewers), productPanel (the featured product and the list), the chat list
 * with its pinned message (PulseCommerce.chatList) and chatSender (the chat's form),
 * tokenBox (the viewer's JWT), viewerPresence (join and leave), roomFeed (the reads and the
 * subscription) with roomEvents (what each event changes). roomView creates them and hands
 * each the callbacks it needs to reach the others.
 */
(function () {
  'use strict';

  var P = window.PulsePage, C = window.PulseCommerce;
  var $ = P.$, param = P.param, store = P.store, show = P.show, errorText = P.errorText, el = P.el;
  var clear = P.clear, num = P.num, formatVnd = P.formatVnd, image = P.image;
  var ID_RE = P.ID_RE, roomPath = C.roomPath;
  var STATUS_TEXT = { PENDING: 'Not started', WAITING_STREAM: 'Waiting for stream', LIVE: 'LIVE', ENDED: 'Ended' };
  var STAGE_TEXT = {
    PENDING: 'The live has not started yet.',
    WAITING_STREAM: 'Starting soon: waiting for the shop\'s video…',
    LIVE: '● LIVE',
    ENDED: 'This live has ended.'
  };
  var JWT_KEY = 'pulse.jwt';
  var GUEST_KEY = 'pulse.viewer_id';
  var CHAT_HISTORY = 50;
  // Presence expires on the server (PULSE_PRESENCE_TTL_S, 60 s) unless refreshed: the page
  // re-joins every 30 s, or sooner, at half the TTL a join's answer states (expiresIn), when
  // that is shorter; tests shorten it.
  var PRESENCE_MS = Number(window.PulsePresenceMs) > 0 ? Number(window.PulsePresenceMs) : 30000;
  var RETRY_MS = 5000;          // a room read that failed is tried again after this
  var ORDER_REFRESH_MS = 2000;  // an order's `product` and `status` events should have come by then
  var LIST_REFRESH_MS = 15000;

  function statusBadge(node, status) { C.roomBadge(node, status, STATUS_TEXT); }

  // No room to show: only the message and a way back to the list.
  function noRoom() {
    $('room-body').hidden = true;
    $('status').hidden = true;
    $('viewers').hidden = true;
    $('back').hidden = false;
  }

  var roomId = param('room');
  if (roomId == null || roomId === '') listView();
  else roomView();

  // ---- the room page -----------------------------------------------------------------------
  function roomView() {
    $('room-view').hidden = false;
    $('title').textContent = roomId;
    if (!ID_RE.test(roomId)) {
      $('title').textContent = 'Live room';
      show($('error'), 'This link has an invalid room id.');
      P.connBadge($('conn'))('offline');
      noRoom();
      return;
    }
    // The log position each kind of state on screen reflects: a read that lands after a newer
    // event must not undo it, and an event the read already holds is not applied twice.
    var at = Pulse.positions();
    var feed = null, presence = null;     // set below; the callbacks run only once all are
    var token = tokenBox(function () { presence.restart(); });
    var chat = C.chatList($('chat'), $('pinned'));
    var sender = chatSender(token, chat.add, function () { feed.loadRoom(); });
    var video = PulseLiveVideo.player($('video'), $('video-state'), roomId);
    var header = roomHeader(function (status) { sender.setEnded(status === 'ENDED'); video.show(status); });
    var products = productPanel();
    presence = viewerPresence(token.jwt, header.ended, function (r) {
      if (at.read('viewers', r.eventId)) header.viewers(r.json.count, r.json.peak);
    });
    feed = roomFeed(at, { header: header, products: products, chat: chat }, presence.stop);
    feed.loadAll();
    presence.start();
  }

  // The room's title, status badge, stage, description, totals and viewer counts.
  // onStatus(status) runs on every render, with the room's status.
  function roomHeader(onStatus) {
    var room = null;              // the latest room object on screen
    var thumb = $('thumb'), thumbFailed = false;
    thumb.addEventListener('error', function () { thumbFailed = true; thumb.hidden = true; });

    function render(r) {
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
      var src = P.safeImageUrl(r.thumbnailUrl);
      if (src && thumb.getAttribute('src') !== src) { thumbFailed = false; thumb.src = src; }
      thumb.hidden = !src || thumbFailed;
      $('stage-text').textContent = STAGE_TEXT[r.status] || '';
      $('stage').className = 'stage' + (r.status === 'LIVE' ? ' stage-live' : '');
      $('ended-note').hidden = r.status !== 'ENDED';
      onStatus(r.status);
    }
    function viewers(count, peak) {
      if (count != null) $('viewer-count').textContent = String(Math.max(0, num(count)));
      if (peak != null) $('viewer-peak').textContent = String(Math.max(0, num(peak)));
    }
    return { render: render, viewers: viewers, ended: function () { return !!room && room.status === 'ENDED'; } };
  }

  // The featured product (#featured) and the product list (#products).
  function productPanel() {
    function stockLine(p) {
      var bits = [];
      bits.push(num(p.soldCount) + ' sold');
      if (p.stockAvailable != null) bits.push(num(p.stockAvailable) + ' in stock');
      if (p.quantityLimit != null && num(p.quantityLimit) > 0) bits.push('limit ' + num(p.quantityLimit) + ' per order');
      return el('div', 'muted small', bits.join(' · '));
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
      body.appendChild(C.priceBlock(p));
      body.appendChild(stockLine(p));
      box.appendChild(body);
    }
    function render(list) {
      if (!list || typeof list.length !== 'number') return;
      var products = C.sortProducts(list);
      var ul = $('products');
      clear(ul);
      var featured = null;
      for (var i = 0; i < products.length; i++) {
        var p = products[i];
        if (!p || typeof p !== 'object') continue;
        if (p.isFeatured && !featured) featured = p;
        var li = C.productItem(p, 'SELLING NOW', [stockLine(p)]);
        if (p.isFeatured) li.setAttribute('aria-current', 'true');
        ul.appendChild(li);
      }
      $('products-empty').hidden = products.length > 0;
      renderFeatured(featured);
    }
    return { render: render };
  }

  // The chat form (#chat-form): sends as token.jwt(), shows the message at once (add), and
  // closes when the room has ended (setEnded; roomGone runs when the server says so first).
  function chatSender(token, add, roomGone) {
    var sending = false, ended = false;
    var input = $('chat-input'), send = $('chat-send'), err = $('chat-error');

    function setEnded(e) {
      ended = e;
      input.disabled = e;
      send.disabled = e;
      if (e) input.placeholder = 'Chat is closed: the live has ended.';
    }
    function refused(r) {
      if (r.status === 429) {
        var s = parseInt(r.headers && r.headers.get('Retry-After'), 10);
        show(err, 'Slow down: at most 5 messages per second.' + (s > 0 ? ' Try again in ' + s + ' s.' : ''));
      } else if (r.status === 409) {
        show(err, 'The room has ended: chat is closed.');
        roomGone();
      } else if (r.status === 401) {
        show(err, 'Your access token was not accepted (expired?). Paste a new one below.');
        token.ask();
      } else {
        show(err, errorText(r, 'The message could not be sent'));
      }
    }
    $('chat-form').addEventListener('submit', function (e) {
      e.preventDefault();
      if (sending) return;
      var text = input.value.trim();
      var jwt = token.jwt();
      if (!text) return;
      if (text.length > 500) return show(err, 'A message is at most 500 characters.');
      if (!jwt) { token.ask(); return show(err, 'Paste your access token below to chat.'); }
      sending = true;
      send.disabled = true;
      Pulse.api('POST', roomPath(roomId, '/chat'), { message: text }, jwt).then(function (r) {
        sending = false;
        send.disabled = ended;
        if (r.status !== 201 && r.status !== 200) return refused(r);
        show(err, '');
        input.value = '';
        add(r.json, true);
        input.focus();
      }, function () {
        sending = false;
        send.disabled = false;
        show(err, 'Could not reach the server; the message was not sent.');
      });
    });
    return { setEnded: setEnded };
  }

  // The viewer's access token (needed to chat), in the #token-box form and this tab's
  // storage; #chat-who says who chats. onChange runs when the viewer uses or forgets one.
  function tokenBox(onChange) {
    var jwt = null;
    var box = $('token-box');
    function renderWho() {
      var c = jwt ? P.jwtClaims(jwt) : null;
      var who = $('chat-who');
      if (!jwt) { who.textContent = 'Paste your access token below to chat.'; box.open = true; return; }
      who.textContent = 'Chatting as ' + (c && (c.name || c.sub) ? (c.name || c.sub) : 'you') +
        (c && c.exp && c.exp * 1000 < Date.now() ? ' (this token has expired)' : '');
    }
    P.signInCard({
      mount: box, compact: true, key: JWT_KEY, label: 'Paste your JWT', error: $('chat-error'),
      onChange: function (t, how) {
        jwt = t || null;
        if (how === 'used') box.open = false;
        renderWho();
        if (how !== 'stored') onChange();
      }
    });
    return { jwt: function () { return jwt; }, ask: function () { box.open = true; } };
  }

  // This tab counted among the room's viewers: it joins now and every PRESENCE_MS, and leaves
  // when the page goes away. A viewer with a token is counted by its `sub` (once, whatever its
  // tabs); a guest by its viewerId (kept for this tab, so a reload is the same viewer, not one
  // more). The tab mints
  // its guest id itself before the first join: with a slow server a second join could
  // otherwise leave before the first one's answer and count the tab twice.
  // jwt() and ended() say who joins and whether to; counted(r) gets a join's answer.
  function viewerPresence(jwt, ended, counted) {
    // 16 random hex digits
    function randomId() {
      return Array.prototype.map.call(crypto.getRandomValues(new Uint8Array(8)),
        function (b) { return (b + 256).toString(16).slice(1); }).join('');
    }
    var guestId = store(GUEST_KEY);
    if (!guestId || !ID_RE.test(guestId) || guestId.indexOf('guest-') !== 0) {
      guestId = 'guest-' + randomId();
      store(GUEST_KEY, guestId);
    }
    // With a token, this page's own presence (`tab`): a viewer with two tabs open stays
    // counted, once, when one of them leaves. Per page load, not per sessionStorage, which a
    // duplicated tab copies.
    var tabId = randomId();
    var joinedAs = null;          // {jwt, guest} of the presence the server holds, or null
    var timer = null;
    var period = PRESENCE_MS;     // between re-joins: within the server's TTL (expiresIn)

    function path(action, who) {
      var q = who.jwt ? '?tab=' + tabId
        : who.guest && ID_RE.test(who.guest) ? '?viewerId=' + encodeURIComponent(who.guest) : '';
      return roomPath(roomId, '/' + action + q);
    }
    function join() {
      if (ended()) return;
      var t = jwt();
      var who = { jwt: t, guest: t ? null : guestId };
      Pulse.api('POST', path('join', who), {}, who.jwt).then(function (r) {
        if (r.status !== 200 && r.status !== 201) return;
        if (!who.jwt && r.json && r.json.viewerId && ID_RE.test(String(r.json.viewerId))) {
          who.guest = guestId = String(r.json.viewerId);
          store(GUEST_KEY, guestId);
        }
        joinedAs = who;
        keepWithin(r.json && Number(r.json.expiresIn));
        if (r.json) counted(r);
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
        fetch(path('leave', who), { method: 'POST', headers: headers, body: '{}', keepalive: true, credentials: 'same-origin' })
          .catch(function () {});
      } catch (e) { /* the page is going away anyway */ }
    }
    // ttl: the seconds a join counts (the answer's expiresIn); re-join at half of it at most.
    function keepWithin(ttl) {
      if (!(ttl > 0)) return;
      var want = Math.min(PRESENCE_MS, Math.max(1000, ttl * 500));
      if (want === period) return;
      period = want;
      if (timer !== null) { clearInterval(timer); timer = setInterval(join, period); }
    }
    function start() {
      clearInterval(timer);
      join();
      timer = setInterval(join, period);
    }
    function stop() { clearInterval(timer); timer = null; }
    window.addEventListener('pagehide', function () { stop(); leave(); });
    // Back from the back/forward cache: the page never reloaded, so join again.
    window.addEventListener('pageshow', function (e) { if (e.persisted) start(); });
    // restart: the viewer's token changed; the guest (or the previous token) stops counting at once.
    return { start: start, stop: stop, restart: function () { leave(); start(); } };
  }

  // The room's state read from the service, then followed on room:ID from the position the
  // room was read at (Pulse-Event-Id): every change after that read arrives as an event,
  // however the page streams, polls or falls back. ui: {header, products, chat}; gone runs
  // when the room turns out not to exist.
  function roomFeed(at, ui, gone) {
    var loadTimer = null, refreshTimer = null, sub = null;
    var setConn = P.connBadge($('conn'), loadAll);

    function loadRoom() {
      return Pulse.api('GET', roomPath(roomId), null, null).then(function (r) {
        if (r.status === 200 && r.json) {
          show($('error'), '');
          if (at.read('room', r.eventId)) ui.header.render(r.json);
          if (at.read('viewers', r.eventId)) ui.header.viewers(r.json.viewerCount, r.json.peakViewers);
          follow(r.eventId);
          return true;
        }
        if (r.status === 404) {
          $('title').textContent = 'Room not found';
          show($('error'), 'There is no live room with this id.');
          if (sub) sub.close();
          gone();
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
      return Pulse.api('GET', roomPath(roomId, '/products'), null, null).then(function (r) {
        if (r.status === 200 && r.json && at.read('products', r.eventId)) ui.products.render(r.json.products);
      });
    }
    function loadChat() {
      return Pulse.api('GET', roomPath(roomId, '/chat?limit=' + CHAT_HISTORY), null, null)
        .then(function (r) {
          if (r.status !== 200 || !r.json) return;
          ui.chat.history(r.json.messages);
          if (at.read('pinned', r.eventId)) ui.chat.pin(r.json.pinned);
        });
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
      loadTimer = setTimeout(loadAll, RETRY_MS);
    }
    // An order changes sold counts and the room's totals; the service follows it with
    // `product` and `status` events. Refetch only if they do not come.
    var refresh = {
      soon: function () {
        clearTimeout(refreshTimer);
        refreshTimer = setTimeout(function () {
          loadRoom().then(function (ok) { if (ok) loadProducts(); }, function () {});
        }, ORDER_REFRESH_MS);
      },
      cancel: function () { clearTimeout(refreshTimer); }
    };

    function follow(eventId) {
      if (sub) return;
      var opts = {
        topics: ['room:' + roomId], lastEventId: eventId, on: roomEvents(at, ui, refresh), onState: setConn,
        onReset: function (info) { at.reset(info); loadAll(); }
      };
      if (param('transport') === 'poll') opts.EventSource = null;
      sub = Pulse.subscribe(opts);
    }
    return { loadAll: loadAll, loadRoom: loadRoom };
  }

  // The types followed on room:ID, each with what it changes on the page.
  function roomEvents(at, ui, refresh) {
    return {
      status: function (ev) {
        var d = ev.data || {};
        refresh.cancel();
        if (at.event('room', ev.id)) ui.header.render(d);
        if ((d.viewerCount != null || d.peakViewers != null) && at.event('viewers', ev.id)) {
          ui.header.viewers(d.viewerCount, d.peakViewers);
        }
      },
      product: function (ev) { if (at.event('products', ev.id)) ui.products.render((ev.data || {}).products); },
      chat: function (ev) { ui.chat.add(ev.data || {}); },
      // The owner pinned a message (the one pinned before, if any, lost its pin).
      chat_pinned: function (ev) { if (at.event('pinned', ev.id)) ui.chat.pin(ev.data); },
      viewers: function (ev) {
        var d = ev.data || {};
        if (at.event('viewers', ev.id)) ui.header.viewers(d.count, d.peak);
      },
      // A toast, and the same line in the chat so it stays in view after the toast is gone.
      order: function (ev) {
        var d = ev.data || {};
        C.orderToast(d);
        ui.chat.add({ type: 'ORDER', message: (d.username || 'Someone') + ' bought ' + (d.productName || 'a product'),
          createdAt: new Date().toISOString() });
        refresh.soon();
      }
    };
  }

  // ---- the list of rooms -------------------------------------------------------------------
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
      a.href = 'live.html?room=' + encodeURIComponent(String(r.id));
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
      Pulse.api('GET', 'api/live/rooms?status=LIVE', null, null).then(function (r) {
        if (r.status === 200 && r.json) { fill($('live-rooms'), $('live-empty'), r.json.rooms); show($('list-error'), ''); }
        else show($('list-error'), errorText(r, 'Could not load the rooms'));
      }, function () { show($('list-error'), 'Could not reach the server.'); });
      Pulse.api('GET', 'api/live/rooms', null, null).then(function (r) {
        if (r.status === 200 && r.json) {
          var rooms = (r.json.rooms || []).slice().sort(function (a, b) {
            return String(b.createdAt || '').localeCompare(String(a.createdAt || ''));
          });
          fill($('all-rooms'), $('all-empty'), rooms);
        }
      }, function () {});
    }
    load();
    setInterval(load, LIST_REFRESH_MS);
  }
})();
