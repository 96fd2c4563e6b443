/*
 * owner.html: the shop owner's console. With an owner JWT (kept in sessionStorage, this tab
 * only) it creates rooms, shows the RTMP server and stream key for OBS, starts and ends a
 * live, manages the room's products and pins a chat message; the managed room is followed
 * live on room:ID.
 * ?room=ID preselects a room. Server and user text only ever goes in through textContent.
 */
(function () {
  'use strict';

  var P = window.PulsePage, C = window.PulseCommerce;
  var $ = P.$, param = P.param, show = P.show, el = P.el, clear = P.clear, num = P.num;
  var formatVnd = P.formatVnd;
  var ID_RE = P.ID_RE;
  var roomPath = C.roomPath, statusBadge = C.roomBadge;
  var JWT_KEY = 'pulse.owner_jwt';
  var CHAT_HISTORY = 50;

  // With the error code: it tells a missing role from an expired token at a glance.
  function errorText(r, fallback) { return P.errorText(r, fallback, true); }
  function rtmpUrl() { return 'rtmp://' + location.hostname + ':1935/live'; }

  var jwt = null;
  var claims = null;
  // room id -> stream key: the service shows it to the room's owner only (create, get, list).
  // Kept in memory, not in storage: whoever has it can stream into the room.
  var streamKeys = {};
  var selected = null;          // id of the room being managed
  var room = null;              // its latest object
  var sub = null;               // its subscription
  var chat = null;              // its chat list (PulseCommerce.chatList)
  var at = Pulse.positions();   // log positions of what is shown of the managed room
  var ownerError = $('owner-error');

  function rememberKey(id, key) { if (key) streamKeys[id] = String(key); }

  // ---- sign-in ---------------------------------------------------------------------------
  function signIn(t) {
    jwt = t || null;
    claims = jwt ? P.jwtClaims(jwt) : null;
    var who = $('whoami');
    if (!jwt) {
      who.textContent = 'Not signed in: paste an access token with role owner.';
      $('console').hidden = true;
      return;
    }
    if (!claims || !claims.sub) {
      who.textContent = 'This does not look like a JWT.';
      who.className = 'error';
      $('console').hidden = true;
      return;
    }
    var name = claims.name && claims.name !== claims.sub ? claims.name + ' (' + claims.sub + ')' : String(claims.sub);
    var note = '';
    if (claims.role !== 'owner') note = ' · role ' + (claims.role || 'none') + ': creating rooms needs role owner';
    if (claims.exp && claims.exp * 1000 < Date.now()) note += ' · this token has expired';
    who.textContent = 'Signed in as ' + name + note;
    who.className = note ? 'error' : 'muted';
    $('console').hidden = false;
    loadRooms();
  }

  // ---- my rooms --------------------------------------------------------------------------
  // The list is public and newest first, a page at a time: page through it (up to a cap)
  // and keep the rooms whose shopOwnerId is this token's sub.
  var PAGE = 500, MAX_PAGES = 10;
  function fetchRooms(offset, acc, pages) {
    return Pulse.api('GET', 'api/live/rooms?limit=' + PAGE + '&offset=' + offset, null, jwt).then(function (r) {
      if (r.status !== 200 || !r.json || !r.json.rooms) return r;
      var rooms = r.json.rooms;
      for (var i = 0; i < rooms.length; i++) {
        var x = rooms[i];
        if (x && claims && String(x.shopOwnerId) === String(claims.sub) && ID_RE.test(String(x.id))) acc.push(x);
      }
      if (rooms.length < PAGE || pages + 1 >= MAX_PAGES) return null;
      return fetchRooms(offset + PAGE, acc, pages + 1);
    });
  }
  function loadRooms() {
    var mine = [];
    return fetchRooms(0, mine, 0).then(function (bad) {
      if (bad) return show(ownerError, errorText(bad, 'Could not load the rooms'));
      mine.sort(function (a, b) { return String(b.createdAt || '').localeCompare(String(a.createdAt || '')); });
      var ul = $('my-rooms');
      clear(ul);
      for (var i = 0; i < mine.length; i++) {
        rememberKey(String(mine[i].id), mine[i].streamKey);
        ul.appendChild(roomItem(mine[i]));
      }
      $('rooms-empty').hidden = mine.length > 0;
      if (selected && streamKeys[selected] && room) renderRoom(room);
      if (!selected) {
        var want = param('room');
        for (var j = 0; j < mine.length; j++) if (String(mine[j].id) === want) select(want);
      }
    }, function () { show(ownerError, 'Could not reach the server.'); });
  }
  function roomItem(x) {
    var id = String(x.id);
    var li = el('li', 'room-item' + (id === selected ? ' room-selected' : ''));
    li.setAttribute('data-room-id', id);
    var b = el('span', 'badge');
    statusBadge(b, x.status);
    li.appendChild(b);
    li.appendChild(document.createTextNode(' '));
    li.appendChild(el('span', 'room-title', x.title || id));
    var manage = el('button', 'small-btn', 'Manage');
    manage.type = 'button';
    manage.addEventListener('click', function () { select(id); });
    li.appendChild(manage);
    var a = el('a', 'small-link', 'viewer page');
    a.href = 'live.html?room=' + encodeURIComponent(id);
    a.target = '_blank';
    a.rel = 'noopener';
    li.appendChild(a);
    return li;
  }

  // ---- create ----------------------------------------------------------------------------
  $('create-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var err = $('create-error');
    var body = {
      title: $('room-title').value.trim(),
      description: $('room-desc').value.trim(),
      thumbnailUrl: $('room-thumb').value.trim()
    };
    if (!body.title) return show(err, 'A room needs a title.');
    show(err, '');
    $('create-submit').disabled = true;
    Pulse.api('POST', 'api/live/rooms', body, jwt).then(function (r) {
      $('create-submit').disabled = false;
      if ((r.status === 201 || r.status === 200) && r.json && r.json.id != null) {
        rememberKey(String(r.json.id), r.json.streamKey);
        $('create-form').reset();
        loadRooms();
        select(String(r.json.id), r.json);
        return;
      }
      show(err, errorText(r, 'The room could not be created'));
    }, function () {
      $('create-submit').disabled = false;
      show(err, 'Could not reach the server.');
    });
  });

  // ---- the managed room ------------------------------------------------------------------
  function select(id, initial) {
    if (sub) { sub.close(); sub = null; }
    selected = id;
    room = null;
    at = Pulse.positions();
    var items = $('my-rooms').children;
    for (var i = 0; i < items.length; i++) {
      items[i].className = 'room-item' + (items[i].getAttribute('data-room-id') === id ? ' room-selected' : '');
    }
    if (!id) { $('manage').hidden = true; return; }
    try { history.replaceState(null, '', 'owner.html?room=' + encodeURIComponent(id)); } catch (e) { /* ignore */ }
    $('manage').hidden = false;
    show($('manage-error'), '');
    show($('product-error'), '');
    $('room-id').textContent = id;
    $('rtmp-url').textContent = rtmpUrl();
    $('viewer-link').href = 'live.html?room=' + encodeURIComponent(id);
    $('viewer-link').textContent = $('viewer-link').href;
    clear($('owner-products'));
    clear($('owner-chat'));
    show($('chat-error'), '');
    chat = C.chatList($('owner-chat'), $('owner-pinned'), pinButton);
    chat.pin(null);
    if (initial) { renderRoom(initial); renderViewers(initial.viewerCount, initial.peakViewers); }
    follow(id);
    $('manage').scrollIntoView({ block: 'start', behavior: 'smooth' });
  }

  // The room first, then its events from the position it was read at (Pulse-Event-Id), so
  // nothing that happens after the read is missed; a failed read is retried. The products are
  // read after the room: their position is then at or past the subscription's, so no product
  // change falls between the two.
  function follow(id) {
    loadRoom().then(function (eventId) {
      if (id !== selected || sub) return;
      if (eventId === undefined) { setTimeout(function () { if (id === selected && !sub) follow(id); }, 5000); return; }
      sub = Pulse.subscribe({
        topics: ['room:' + id], lastEventId: eventId,
        on: EVENTS,
        onReset: function (info) { at.reset(info); loadRoom(); loadProducts(); loadChat(); },
        onState: setConn
      });
      loadProducts();
      loadChat();
    });
  }

  var setConn = P.connBadge($('conn'), function () { loadRoom(); loadProducts(); loadChat(); });

  function renderRoom(r) {
    if (!r || typeof r !== 'object' || String(r.id) !== selected) return;
    if (r.streamKey) rememberKey(selected, r.streamKey);
    room = r;
    $('manage-title').textContent = r.title || selected;
    statusBadge($('manage-status'), r.status);
    var key = streamKeys[selected];
    $('stream-key').textContent = key || '(only shown to this room\'s owner)';
    $('start').disabled = r.status !== 'PENDING';
    $('end').disabled = r.status === 'ENDED';
    $('manage-orders').textContent = String(num(r.totalOrders));
    $('manage-revenue').textContent = formatVnd(num(r.totalRevenue));
    // Keep the list's badge in step.
    var li = document.querySelector('#my-rooms li[data-room-id="' + (window.CSS && CSS.escape ? CSS.escape(selected) : selected) + '"] .badge');
    if (li) statusBadge(li, r.status);
  }
  function renderViewers(count, peak) {
    $('manage-viewers').textContent = num(count) + ' now · peak ' + num(peak);
  }

  // A room (from a read or a write's answer) at its log position: shown unless newer is.
  function showRoom(r) {
    if (!r.json) return;
    if (at.read('room', r.eventId)) renderRoom(r.json);
    if (at.read('viewers', r.eventId)) renderViewers(r.json.viewerCount, r.json.peakViewers);
  }
  // Resolves the read's position (null without one), or undefined when it failed.
  function loadRoom() {
    var id = selected, tracker = at;
    return Pulse.api('GET', roomPath(id), null, jwt).then(function (r) {
      if (id !== selected || tracker !== at) return undefined;
      if (r.status === 200 && r.json) { showRoom(r); return r.eventId; }
      show($('manage-error'), errorText(r, 'Could not load the room'));
      if (!sub) setConn('offline');
      return undefined;
    }, function () {
      if (id === selected) show($('manage-error'), 'Could not reach the server.');
      return undefined;
    });
  }
  function loadProducts() {
    var id = selected, tracker = at;
    return Pulse.api('GET', roomPath(id, '/products'), null, jwt).then(function (r) {
      if (id !== selected || tracker !== at) return;
      if (r.status === 200 && r.json) { if (at.read('products', r.eventId)) renderProducts(r.json.products); }
      else show($('product-error'), errorText(r, 'Could not load the products'));
    }, function () {});
  }

  // The chat's history and the pinned message, read after the subscription's position like
  // the products: a message or a pin that comes in between arrives as an event too.
  function loadChat() {
    var id = selected, tracker = at, list = chat;
    return Pulse.api('GET', roomPath(id, '/chat?limit=' + CHAT_HISTORY), null, jwt).then(function (r) {
      if (id !== selected || tracker !== at) return;
      if (r.status !== 200 || !r.json) return show($('chat-error'), errorText(r, 'Could not load the chat'));
      list.history(r.json.messages);
      if (at.read('pinned', r.eventId)) list.pin(r.json.pinned);
    }, function () {});
  }
  // The owner's button on each message: pins it for every viewer (chat_pinned moves the mark).
  function pinButton(m) {
    var b = el('button', 'small-btn pin', 'Pin');
    b.type = 'button';
    b.title = 'Pin this message above the chat for every viewer';
    b.addEventListener('click', function () {
      var id = selected;
      b.disabled = true;
      action('PUT', roomPath(id, '/chat/' + encodeURIComponent(String(m.id)) + '/pin'), null, $('chat-error'),
        function (r) { if (id === selected && chat && at.read('pinned', r.eventId)) chat.pin(r.json); })
        .then(function (r) { if (!r || r.status !== 200) b.disabled = false; });
    });
    return b;
  }

  function action(method, path, body, errBox, done) {
    show(errBox, '');
    return Pulse.api(method, path, body, jwt).then(function (r) {
      if (r.status >= 200 && r.status < 300) { if (done) done(r); return r; }
      var msg = errorText(r, 'The request failed');
      if (r.status === 401) msg = 'Your token was not accepted (expired or wrong secret): ' + msg;
      else if (r.status === 403) msg = 'Not allowed: only this room\'s owner can do that. ' + msg;
      else if (r.status === 409) msg = 'Not possible in the room\'s current state: ' + msg;
      show(errBox, msg);
      return r;
    }, function () { show(errBox, 'Could not reach the server.'); });
  }

  $('start').addEventListener('click', function () {
    var id = selected;
    $('start').disabled = true;
    action('PUT', roomPath(id, '/start'), null, $('manage-error'), function (r) {
      if (r.json && r.json.status && id === selected) showRoom(r);
    }).then(function () { if (id === selected) loadRoom(); loadRooms(); });
  });
  $('end').addEventListener('click', function () {
    var id = selected;
    if (!window.confirm('End this live? Viewers will see it has ended and chat closes.')) return;
    $('end').disabled = true;
    action('PUT', roomPath(id, '/end'), null, $('manage-error'), function (r) {
      if (r.json && r.json.status && id === selected) showRoom(r);
    }).then(function () { if (id === selected) loadRoom(); loadRooms(); });
  });

  // ---- products --------------------------------------------------------------------------
  function intField(id) {
    var v = $(id).value.trim();
    if (v === '') return null;
    var n = Number(v);
    return isFinite(n) && Math.floor(n) === n ? n : NaN;
  }
  $('product-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var err = $('product-error');
    var body = {
      productId: $('p-id').value.trim(),
      productName: $('p-name').value.trim(),
      productImageUrl: $('p-image').value.trim(),
      originalPrice: intField('p-original'),
      livePrice: intField('p-live'),
      quantityLimit: intField('p-limit'),
      stockAvailable: intField('p-stock'),
      displayOrder: intField('p-order')
    };
    if (!body.productId || !body.productName) return show(err, 'A product needs an id and a name.');
    var k;
    for (k in body) {
      if (typeof body[k] === 'number' && isNaN(body[k])) return show(err, k + ' must be a whole number.');
      if (body[k] === null) delete body[k];
    }
    if (body.originalPrice == null || body.livePrice == null) return show(err, 'Both prices are needed (whole VND).');
    if (body.originalPrice < 0 || body.livePrice < 0) return show(err, 'Prices cannot be negative.');
    $('product-submit').disabled = true;
    var id = selected;
    action('POST', roomPath(id, '/products'), body, err, function () {
      $('p-id').value = ''; $('p-name').value = ''; $('p-image').value = '';
    }).then(function () {
      $('product-submit').disabled = false;
      if (id === selected) loadProducts();
    });
  });

  function renderProducts(list) {
    if (!list || typeof list.length !== 'number') return;
    var items = C.sortProducts(list);
    var ul = $('owner-products');
    clear(ul);
    for (var i = 0; i < items.length; i++) if (items[i] && typeof items[i] === 'object') ul.appendChild(productItem(items[i]));
    $('products-empty').hidden = items.length > 0;
  }
  function productItem(p) {
    var pid = String(p.id);
    var details = el('div', 'muted small', 'product ' + (p.productId || '?') + ' · ' + num(p.soldCount) + ' sold · ' +
      num(p.stockAvailable) + ' in stock · limit ' + num(p.quantityLimit) + ' · order ' + num(p.displayOrder));
    var actions = el('div', 'product-actions');
    var feat = el('button', 'small-btn feature', p.isFeatured ? 'Featured' : 'Feature');
    feat.type = 'button';
    feat.disabled = !!p.isFeatured;
    feat.addEventListener('click', function () {
      feat.disabled = true;
      action('PUT', roomPath(selected, '/products/' + encodeURIComponent(pid) + '/feature'), null, $('product-error'))
        .then(function () { loadProducts(); });
    });
    var del = el('button', 'small-btn danger delete', 'Remove');
    del.type = 'button';
    del.addEventListener('click', function () {
      if (!window.confirm('Remove "' + (p.productName || pid) + '" from this live?')) return;
      del.disabled = true;
      action('DELETE', roomPath(selected, '/products/' + encodeURIComponent(pid)), null, $('product-error'))
        .then(function () { loadProducts(); });
    });
    actions.appendChild(feat);
    actions.appendChild(del);
    return C.productItem(p, 'FEATURED', [details, actions]);
  }

  // ---- live events on the managed room ---------------------------------------------------
  // The types followed on room:ID, each with what it changes on the page.
  var orderTimer = null;
  var EVENTS = {
    status: function (ev) {
      var d = ev.data || {};
      clearTimeout(orderTimer);
      if (at.event('room', ev.id)) renderRoom(d);
      if (d.viewerCount != null && at.event('viewers', ev.id)) renderViewers(d.viewerCount, d.peakViewers);
    },
    product: function (ev) { if (at.event('products', ev.id)) renderProducts((ev.data || {}).products); },
    viewers: function (ev) { var d = ev.data || {}; if (at.event('viewers', ev.id)) renderViewers(d.count, d.peak); },
    chat: function (ev) { if (chat) chat.add(ev.data || {}); },
    chat_pinned: function (ev) { if (chat && at.event('pinned', ev.id)) chat.pin(ev.data); },
    // The service follows an order with `product` and `status`; refetch only if they do not come.
    order: function (ev) {
      C.orderToast(ev.data || {});
      clearTimeout(orderTimer);
      orderTimer = setTimeout(function () { loadRoom(); loadProducts(); }, 2000);
    }
  };

  P.signInCard({
    mount: $('sign-in'), key: JWT_KEY, label: 'Your owner access token (JWT)', error: ownerError,
    onChange: function (t, how) {
      if (how === 'forgotten') select(null);
      signIn(t);
    }
  });
})();
