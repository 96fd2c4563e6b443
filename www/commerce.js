/*
 * commerce.js: the live-commerce pieces live.js and owner.js share, as window.PulseCommerce:
 * a room's API path and status badge, the product list item with its price, the toast for
 * an order, and a room's chat list with its pinned message. Load it after page.js. Server and user text only ever goes in through
 * textContent.
 *
 * Plain ES5, so it loads as a classic <script>.
 */
(function (root) {
  'use strict';

  var P = root.PulsePage;
  var el = P.el, num = P.num, formatVnd = P.formatVnd;
  var ROOM_STATUSES = { PENDING: 1, WAITING_STREAM: 1, LIVE: 1, ENDED: 1 };
  var TOAST_MS = 6000;
  var TOASTS_SHOWN = 5;
  var CHAT_KEEP = 200;          // messages kept on screen

  // /api/live/rooms/{id}{rest}: the room's own routes.
  function roomPath(id, rest) { return 'api/live/rooms/' + encodeURIComponent(id) + (rest || ''); }
  // A room's status badge (titles: status -> tooltip, optional).
  function roomBadge(node, status, titles) { return P.badge(node, status, ROOM_STATUSES, titles); }

  // The room's products in the order the owner set, ties by id so both pages agree.
  function sortProducts(list) {
    return list.slice().sort(function (a, b) {
      return num(a.displayOrder) - num(b.displayOrder) || String(a.id).localeCompare(String(b.id));
    });
  }
  function priceBlock(p) {
    var box = el('div', 'price');
    box.appendChild(el('span', 'price-live', formatVnd(p.livePrice)));
    if (p.originalPrice != null && num(p.originalPrice) > num(p.livePrice)) {
      box.appendChild(document.createTextNode(' '));
      box.appendChild(el('s', 'price-original', formatVnd(p.originalPrice)));
    }
    var d = Math.round(num(p.discountPercent));
    if (d > 0) {
      box.appendChild(document.createTextNode(' '));
      box.appendChild(el('span', 'discount', '-' + d + '%'));
    }
    return box;
  }
  // One product list item: picture, name (with `tag` when featured), price, then `extras`.
  function productItem(p, tag, extras) {
    var li = el('li', 'product' + (p.isFeatured ? ' product-featured' : ''));
    li.setAttribute('data-product-id', String(p.id));
    li.appendChild(P.image(p.productImageUrl, 'product-img'));
    var body = el('div', 'product-body');
    var name = el('div', 'product-name', p.productName || p.productId || 'Product');
    if (p.isFeatured) { name.appendChild(document.createTextNode(' ')); name.appendChild(el('span', 'tag', tag)); }
    body.appendChild(name);
    body.appendChild(priceBlock(p));
    for (var i = 0; extras && i < extras.length; i++) body.appendChild(extras[i]);
    li.appendChild(body);
    return li;
  }
  // "X bought Y" in #toasts for an `order` event; at most TOASTS_SHOWN at a time, each fades
  // after TOAST_MS.
  function orderToast(d) {
    var t = el('div', 'toast');
    t.setAttribute('role', 'status');
    t.appendChild(el('strong', null, d.username || 'Someone'));
    t.appendChild(document.createTextNode(' bought '));
    t.appendChild(el('strong', null, d.productName || 'a product'));
    if (d.amount != null) t.appendChild(el('span', 'muted', ' · ' + formatVnd(d.amount)));
    var box = P.$('toasts');
    box.appendChild(t);
    while (box.children.length > TOASTS_SHOWN) box.removeChild(box.firstChild);
    setTimeout(function () { t.className = 'toast toast-out'; }, TOAST_MS - 400);
    setTimeout(function () { if (t.parentNode) t.parentNode.removeChild(t); }, TOAST_MS);
  }

  function clockTime(iso) {
    var t = iso ? new Date(iso) : null;
    if (!t || isNaN(t.getTime())) return '';
    function two(x) { return (x < 10 ? '0' : '') + x; }
    return two(t.getHours()) + ':' + two(t.getMinutes());
  }

  // A room's chat in the list `box`: the history, then messages as they come, each id once,
  // and the one message the owner pinned, shown in `pinned` (its .pinned-user and
  // .pinned-text) and marked chat-pinned in the list. actions(m), when given, returns a node
  // to append to a message's item (the owner's pin button, disabled on the pinned one).
  function chatList(box, pinned, actions) {
    var chatIds = {};             // message id -> true, so history and stream never double up
    var pinnedId = null;          // id of the pinned message, or null

    function mark(li) {
      var on = pinnedId != null && li.getAttribute('data-id') === pinnedId;
      li.classList.toggle('chat-pinned', on);
      var b = li.querySelector('button');
      if (b) b.disabled = on;
    }
    function item(m) {
      var type = String(m.type || 'CHAT').toUpperCase();
      var li = el('li', 'chat-msg' + (type !== 'CHAT' ? ' chat-' + type.toLowerCase() : ''));
      if (m.id != null) li.setAttribute('data-id', String(m.id));
      var time = clockTime(m.createdAt);
      if (time) { var t = el('time', 'chat-time', time); t.dateTime = String(m.createdAt); li.appendChild(t); }
      if (type === 'CHAT') li.appendChild(el('span', 'chat-user', (m.username || m.userId || 'someone') + ':'));
      li.appendChild(el('span', 'chat-text', m.message));
      if (actions && m.id != null && type === 'CHAT') li.appendChild(actions(m));
      mark(li);
      return li;
    }
    function nearBottom() { return box.scrollHeight - box.scrollTop - box.clientHeight < 40; }
    // stick: scroll to it even when the reader had scrolled up (their own message, the history).
    function add(m, stick) {
      if (!m || typeof m !== 'object' || m.message == null) return;
      if (m.id != null) {
        if (chatIds[String(m.id)]) return;
        chatIds[String(m.id)] = true;
      }
      var follow = stick || nearBottom();
      box.appendChild(item(m));
      while (box.children.length > CHAT_KEEP) box.removeChild(box.firstChild);
      if (follow) box.scrollTop = box.scrollHeight;
    }
    function history(list) {
      if (!list || typeof list.length !== 'number') return;
      // Messages that came over the stream while the history was loading are newer than it.
      var live = [];
      for (var i = 0; i < box.children.length; i++) live.push(box.children[i]);
      P.clear(box);
      chatIds = {};
      for (var j = 0; j < list.length; j++) add(list[j], true);
      for (var k = 0; k < live.length; k++) {
        var id = live[k].getAttribute('data-id');
        if (id != null && chatIds[id]) continue;
        if (id != null) chatIds[id] = true;
        box.appendChild(live[k]);
      }
      box.scrollTop = box.scrollHeight;
    }
    // m: the pinned message (a chat object, e.g. a chat_pinned event's data), or null for none.
    function pin(m) {
      var ok = m && typeof m === 'object' && m.id != null && m.message != null;
      pinnedId = ok ? String(m.id) : null;
      pinned.hidden = !ok;
      pinned.setAttribute('data-id', ok ? pinnedId : '');
      pinned.querySelector('.pinned-user').textContent = ok ? (m.username || m.userId || 'someone') + ':' : '';
      pinned.querySelector('.pinned-text').textContent = ok ? String(m.message) : '';
      for (var i = 0; i < box.children.length; i++) mark(box.children[i]);
    }
    return { add: add, history: history, pin: pin };
  }

  root.PulseCommerce = {
    roomPath: roomPath, roomBadge: roomBadge, sortProducts: sortProducts, priceBlock: priceBlock,
    productItem: productItem, orderToast: orderToast, chatList: chatList
  };
})(window);
