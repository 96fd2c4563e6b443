/*
 * page.js: what every page shares, as window.PulsePage: the nav (built from one list when
 * the script loads), the sign-in card, and small DOM helpers. Every page loads it (index.html
 * too, for the nav), after pulse.js where the page uses that, and before the page's own
 * script. Like the pages, it only ever puts server and user text into the document through
 * textContent.
 *
 * Plain ES5, so it loads as a classic <script>.
 */
(function (root) {
  'use strict';

  var ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;   // the contract's id syntax

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

  // ---- what every page shows -------------------------------------------------------------
  // The pages, in the order of the nav. Each page's HTML holds only a link to "./" (the
  // index) in its <nav> (what a browser without JavaScript shows: the index lists the pages
  // too); the links are built from this one list so that no page's nav drifts from another's.
  // Relative: the pages work at the site's root and in a folder (https://example.com/pulse/).
  var PAGES = [
    ['topup.html', 'Top-up'],
    ['live.html', 'Live room'],
    ['owner.html', 'Owner console'],
    ['inbox.html', 'CRM inbox'],
    ['chat.html', 'AI chat']
  ];
  function renderNav() {
    var nav = document.querySelector('header nav');
    if (!nav) return;
    clear(nav);
    for (var i = 0; i < PAGES.length; i++) {
      var a = el('a', null, PAGES[i][1]);
      a.href = PAGES[i][0];
      if (a.pathname === location.pathname) a.setAttribute('aria-current', 'page');
      nav.appendChild(a);
    }
  }

  // The access-token field (label + textarea#jwt), as a fragment to insert where a form
  // asks for a JWT: the sign-in card below and the top-up form.
  function tokenField(label) {
    var f = document.createDocumentFragment();
    var l = el('label', null, label);
    l.htmlFor = 'jwt';
    var t = el('textarea');
    t.id = 'jwt';
    t.setAttribute('autocomplete', 'off');
    t.setAttribute('spellcheck', 'false');
    t.placeholder = 'eyJhbGciOiJIUzI1NiIs...';
    f.appendChild(l);
    f.appendChild(t);
    return f;
  }
  function button(id, cls, text, type) {
    var b = el('button', cls, text);
    b.id = id;
    b.type = type;
    return b;
  }

  // The sign-in card, appended to opts.mount: form#token-form with the token field
  // (opts.label), #whoami ("Not signed in.", for the page to fill in), #jwt-save and
  // #jwt-clear; opts.compact leaves out the card frame and #whoami (live.html's token box).
  // The token is kept under opts.key in this tab's storage. opts.onChange(token or null, how)
  // runs now with the stored token (how = 'stored'), then on every use ('used') or
  // forgetting ('forgotten') of one; opts.error says when the field is empty.
  function signInCard(opts) {
    var form = el('form', opts.compact ? null : 'card');
    form.id = 'token-form';
    form.noValidate = true;
    form.appendChild(tokenField(opts.label));
    var row = el('div', 'row');
    if (!opts.compact) {
      var who = el('span', 'muted', 'Not signed in.');
      who.id = 'whoami';
      row.appendChild(who);
    }
    var buttons = el('span');
    buttons.appendChild(button('jwt-save', null, 'Use this token', 'submit'));
    buttons.appendChild(document.createTextNode(' '));
    buttons.appendChild(button('jwt-clear', 'secondary', 'Forget it', 'button'));
    row.appendChild(buttons);
    form.appendChild(row);
    opts.mount.appendChild(form);

    var field = $('jwt');
    var t = store(opts.key);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var v = field.value.replace(/\s+/g, '');
      if (!v) return show(opts.error, 'Paste your access token first.');
      show(opts.error, '');
      store(opts.key, v);
      opts.onChange(v, 'used');
    });
    $('jwt-clear').addEventListener('click', function () {
      store(opts.key, null);
      field.value = '';
      opts.onChange(null, 'forgotten');
    });
    if (t) field.value = t;
    opts.onChange(t, 'stored');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', renderNav);
  else renderNav();

  root.PulsePage = {
    ID_RE: ID_RE, $: $, param: param, store: store, show: show, errorText: errorText, el: el,
    clear: clear, num: num, formatVnd: formatVnd, badge: badge, connBadge: connBadge,
    safeImageUrl: safeImageUrl, image: image, jwtClaims: jwtClaims, tokenField: tokenField, signInCard: signInCard
  };
})(window);
