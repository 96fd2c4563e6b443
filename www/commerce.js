/*
 * commerce.js: the live-commerce pieces live.js and owner.js share, as window.PulseCommerce:
 * a room's API path and status badge, the product list item with its price, and the toast
 * for an order. Load it after page.js. Server and user text only ever goes in through
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

  // /api/live/rooms/{id}{rest}: the room's own routes.
  function roomPath(id, rest) { return '/api/live/rooms/' + encodeURIComponent(id) + (rest || ''); }
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

  root.PulseCommerce = {
    roomPath: roomPath, roomBadge: roomBadge, sortProducts: sortProducts, priceBlock: priceBlock,
    productItem: productItem, orderToast: orderToast
  };
})(window);
