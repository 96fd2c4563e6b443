/*
 * page.js: the small DOM helpers topup.js, live.js, owner.js and inbox.js share, as window.PulsePage.
 * Load it after pulse.js and before the page's own script. Like the pages, it only ever puts
 * server and user text into the document through textContent.
 *
 * Plain ES5, so it loads as a classic <script>.
 */
(function (root) {
  'use strict';

  var ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;   // the contract's id syntax
  var TOAST_MS = 6000;

  function $(id) { return document.getElementById(id); }
  function param(name) {
    var m = new RegExp('[?&]' + name + '=([^&#]*)').exec(location.search);
    if (!m) return null;
    try { return decodeURIComponent(m[1].replace(/\+/g, ' ')); } catch (e) { return null; }
  }
  // Storage can be disabled (private mode, sandboxed frames); the page must still work.
  // store(key) reads, store(key, value) writes, store(key, null) forgets.
  function store(key, value) {
    try {
      if (value === undefined) return sessionStorage.getItem(key);
      if (value === null) sessionStorage.removeItem(key); else sessionStorage.setItem(key, value);
    } catch (e) { /* ignore */ }
    return null;
  }
  // An empty text hides the box, so an error line takes no room until there is an error.
  function show(node, text) { node.textContent = text || ''; node.hidden = !text; }
  // The service's own message when it sent one; withCode adds its error code (the owner
  // console, where the code helps to tell a missing role from an expired token).
  function errorText(r, fallback, withCode) {
    var e = r && r.json && r.json.error;
    if (e && e.message) return e.message + (withCode && e.code ? ' (' + e.code + ')' : '');
    return fallback + (r ? ' (HTTP ' + r.status + ')' : '');
  }
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = String(text);
    return n;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function num(n) { var v = Number(n); return isFinite(v) ? v : 0; }

  // Integer VND with thousands separators; not toLocaleString, whose output varies by browser
  // locale. unit follows the number (' ₫' unless given; the top-up page labels it in the HTML).
  function formatVnd(n, unit) {
    var v = Math.round(Number(n));
    if (n == null || !isFinite(v)) return '—';
    return (v < 0 ? '-' : '') + String(Math.abs(v)).replace(/\B(?=(\d{3})+(?!\d))/g, ',') +
      (unit == null ? ' ₫' : unit);
  }

  // A status badge: a status in `known` gets its colour class (badge-waiting-stream), anything
  // else is shown as it came, uncoloured. Returns the text shown.
  function badge(node, status, known, titles) {
    var s = known[status] ? status : String(status || '?');
    node.textContent = s;
    node.title = (titles && titles[s]) || '';
    node.className = 'badge' + (known[s] ? ' badge-' + s.toLowerCase().replace('_', '-') : '');
    return s;
  }

  // The #conn badge follows the subscription's state; onBack refetches when it comes back
  // after an outage (resume is lossless, but a refetch is cheap insurance).
  function connBadge(node, onBack) {
    var conn = 'connecting';
    return function (s) {
      var was = conn;
      conn = s;
      node.textContent = s;
      node.className = 'conn conn-' + s;
      if (onBack && was === 'offline' && (s === 'live' || s === 'polling')) onBack();
    };
  }

  // Only http(s) or same-origin paths become an image source; anything else is left out.
  function safeImageUrl(u) {
    if (typeof u !== 'string') return null;
    u = u.trim();
    return /^https?:\/\//i.test(u) || /^\/(?!\/)/.test(u) ? u : null;
  }
  function image(url, cls) {
    var src = safeImageUrl(url);
    if (!src) return el('div', cls + ' img-missing');
    var img = el('img', cls);
    img.alt = '';
    img.loading = 'lazy';
    img.referrerPolicy = 'no-referrer';
    // A broken link shows the same grey box as no link, not the browser's broken-image icon.
    img.addEventListener('error', function () {
      if (img.parentNode) img.parentNode.replaceChild(el('div', cls + ' img-missing'), img);
    });
    img.src = src;
    return img;
  }

  // The JWT's payload, for display and for "my rooms" only: the server checks the signature.
  function jwtClaims(t) {
    try {
      var p = String(t).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      while (p.length % 4) p += '=';
      var bin = atob(p);
      var text = bin;
      if (typeof TextDecoder !== 'undefined') {
        var bytes = new Uint8Array(bin.length);
        for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        text = new TextDecoder('utf-8').decode(bytes);
      }
      var c = JSON.parse(text);
      return c && typeof c === 'object' ? c : null;
    } catch (e) { return null; }
  }

  // The sign-in card of owner.html and inbox.html (#token-form, #jwt, #jwt-clear): the token
  // is kept under key in this tab's storage. onChange(token or null) runs now with the stored
  // token, then on every use or forgetting of one (then with forgotten = true); errorNode
  // says when the field is empty.
  function tokenForm(key, errorNode, onChange) {
    var t = store(key);
    $('token-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var v = $('jwt').value.replace(/\s+/g, '');
      if (!v) return show(errorNode, 'Paste your access token first.');
      show(errorNode, '');
      store(key, v);
      onChange(v);
    });
    $('jwt-clear').addEventListener('click', function () {
      store(key, null);
      $('jwt').value = '';
      onChange(null, true);
    });
    if (t) $('jwt').value = t;
    onChange(t);
  }

  // ---- live-commerce pieces (live.html and owner.html) ----------------------------------
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
    li.appendChild(image(p.productImageUrl, 'product-img'));
    var body = el('div', 'product-body');
    var name = el('div', 'product-name', p.productName || p.productId || 'Product');
    if (p.isFeatured) { name.appendChild(document.createTextNode(' ')); name.appendChild(el('span', 'tag', tag)); }
    body.appendChild(name);
    body.appendChild(priceBlock(p));
    for (var i = 0; extras && i < extras.length; i++) body.appendChild(extras[i]);
    li.appendChild(body);
    return li;
  }
  // "X bought Y" in #toasts for an `order` event; at most 5 at a time, each fades after TOAST_MS.
  function orderToast(d) {
    var t = el('div', 'toast');
    t.setAttribute('role', 'status');
    t.appendChild(el('strong', null, d.username || 'Someone'));
    t.appendChild(document.createTextNode(' bought '));
    t.appendChild(el('strong', null, d.productName || 'a product'));
    if (d.amount != null) t.appendChild(el('span', 'muted', ' · ' + formatVnd(d.amount)));
    var box = $('toasts');
    box.appendChild(t);
    while (box.children.length > 5) box.removeChild(box.firstChild);
    setTimeout(function () { t.className = 'toast toast-out'; }, TOAST_MS - 400);
    setTimeout(function () { if (t.parentNode) t.parentNode.removeChild(t); }, TOAST_MS);
  }

  root.PulsePage = {
    ID_RE: ID_RE, $: $, param: param, store: store, show: show, errorText: errorText, el: el,
    clear: clear, num: num, formatVnd: formatVnd, badge: badge, connBadge: connBadge,
    safeImageUrl: safeImageUrl, image: image, jwtClaims: jwtClaims, tokenForm: tokenForm, sortProducts: sortProducts,
    priceBlock: priceBlock, productItem: productItem, orderToast: orderToast
  };
})(window);
