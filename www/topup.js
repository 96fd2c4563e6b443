/*
 * topup.html: /topup.html?tx_ref=X&token=T shows one transaction, updated live;
 * without tx_ref it offers a form that starts a new top-up.
 * Server and user text only ever goes in through textContent.
 * ?transport=poll forces the polling fallback (handy to see it work).
 * While PENDING it shows the QR to pay (PayOS's VietQR text, drawn by qrcode-generator) and
 * PayOS's checkout link; without PayOS credentials, the dev checkout's pay button instead,
 * which asks the server for the webhook PayOS would send and delivers it. PayOS's return
 * and cancel redirects land here with their own query parameters: the page ignores them and
 * shows what the server says.
 */
(function () {
  'use strict';

  var P = window.PulsePage;
  var $ = P.$, param = P.param, store = P.store, show = P.show, errorText = P.errorText;
  var ID_RE = P.ID_RE;
  var STATUSES = { PENDING: 1, PAID: 1, FAILED: 1, CANCELLED: 1 };
  var JWT_KEY = 'pulse.jwt';

  // The amount's unit is in the HTML, next to it.
  function formatVnd(n) { return P.formatVnd(n, ''); }
  function formatTime(el, iso) {
    el.textContent = iso || '—';
    var t = iso ? new Date(iso) : null;
    el.title = t && !isNaN(t.getTime()) ? t.toLocaleString() : '';
  }

  var txRef = param('tx_ref');
  var token = param('token');
  var jwt = store(JWT_KEY);

  if (!txRef) { initView(); return; }
  txView();

  function txView() {
    var setConn = P.connBadge($('conn'), loadStatus);
    $('tx-view').hidden = false;
    $('tx-ref').textContent = txRef;
    if (!ID_RE.test(txRef)) { show($('error'), 'This link has an invalid transaction reference.'); setConn('offline'); return; }

    var shown = null;        // the status currently on screen
    var at = Pulse.positions();
    var sub = null;

    function render(tx) {
      if (!tx || typeof tx !== 'object' || (tx.tx_ref && tx.tx_ref !== txRef)) return;
      // The status fetch and the stream race at load time; a slower stale read must not
      // turn a final state back into PENDING.
      if (shown && shown !== 'PENDING' && tx.status === 'PENDING') return;
      var status = shown = P.badge($('status'), tx.status, STATUSES);
      $('amount').textContent = formatVnd(tx.amount);
      $('amount').setAttribute('data-value', String(tx.amount));
      $('order-code').textContent = tx.order_code != null ? String(tx.order_code) : '—';
      formatTime($('created-at'), tx.created_at);
      formatTime($('paid-at'), tx.paid_at);
      document.title = status + ' · Top-up — Pulse';
      if (status === 'PAID') showWallet();
      renderPay(tx, status);
    }

    var qrText = null;       // what the QR on screen encodes
    function renderPay(tx, status) {
      var url = typeof tx.checkout_url === 'string' ? tx.checkout_url : '';
      var live = /^https?:\/\//i.test(url);
      // the dev checkout: this page on this origin (a path, never //host), in whatever folder
      var dev = !live && /^\/(?!\/)(?:[^?#]*\/)?topup\.html\?/.test(url);
      $('pay').hidden = !(status === 'PENDING' && (live || dev));
      if ($('pay').hidden) return;
      if (live) $('pay-link').href = url;
      $('pay-link').hidden = !live;
      $('pay-dev').hidden = !dev;
      // A bank app scans PayOS's VietQR text; the dev checkout's QR opens this page on a phone.
      var text = live ? tx.qr_code : new URL(url, location.href).href;
      $('qr-note').textContent = live ? 'Scan with your banking app, or pay on PayOS\'s page.'
        : 'Development checkout (no PayOS credentials): Pay settles this top-up by a webhook signed as PayOS signs.';
      if (typeof text === 'string' && text && text !== qrText) qrText = drawQr($('qr'), text) ? text : null;
    }

    $('pay-dev').addEventListener('click', payDev);
    // The webhook body PayOS would send, signed by the server (dev checkout only), delivered
    // as it came to the webhook PayOS calls: the payment then goes the way a real one goes.
    function payDev() {
      var err = $('pay-error');
      var q = 'tx_ref=' + encodeURIComponent(txRef) + (token ? '&token=' + encodeURIComponent(token) : '');
      var headers = { 'Accept': 'application/json' };
      if (!token && jwt) headers.Authorization = 'Bearer ' + jwt;
      $('pay-dev').disabled = true;
      show(err, '');
      post('api/topup/dev/webhook?' + q, '', headers).then(function (r) {
        if (r.status !== 200) throw r;
        return post('api/payos/webhook', r.text, { 'Content-Type': 'application/json' });
      }).then(function (r) {
        if (r.status !== 200) throw r;
      }).catch(function (r) {
        $('pay-dev').disabled = false;
        show(err, r && r.status ? 'The dev checkout failed (HTTP ' + r.status + ').' : 'Could not reach the server.');
      });
    }
    if (param('code') !== null || param('status') !== null || param('cancel') !== null) $('returned').hidden = false;

    function loadStatus() {
      var q = 'tx_ref=' + encodeURIComponent(txRef) + (token ? '&token=' + encodeURIComponent(token) : '');
      // With a stream token, no JWT: a stored JWT of another user must not turn a valid link into a 403.
      return Pulse.api('GET', 'api/topup/status?' + q, null, token ? null : jwt).then(function (r) {
        if (r.status === 200) {
          show($('error'), '');
          if (at.read('tx', r.eventId)) render(r.json);
          follow(r.eventId);
          return;
        }
        show($('error'), errorText(r, 'Could not load the transaction'));
        if (!sub) setConn('offline');
        if (r.status === 429 || r.status >= 500) retryLater();
      }, function () {
        show($('error'), 'Could not reach the server; retrying.');
        if (!sub) setConn('offline');
        retryLater();
      });
    }

    var retryTimer = null;
    function retryLater() {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(loadStatus, 5000);
    }

    // The owner's balance is only visible with their JWT (kept from the form in this tab).
    function showWallet() {
      if (!jwt) return;
      Pulse.api('GET', 'api/wallet', null, jwt).then(function (r) {
        if (r.status === 200 && r.json) show($('wallet'), 'Wallet balance: ' + formatVnd(r.json.balance) + ' VND');
      }, function () { /* the balance is a nicety */ });
    }

    var opts = {
      topics: ['topup:' + txRef],
      token: token,
      // Without a stream token the owner's JWT has to travel in the URL: EventSource cannot send headers.
      accessToken: token ? null : jwt,
      on: { 'topup.status': function (ev) { if (at.event('tx', ev.id)) render(ev.data); } },
      onReset: function (info) { at.reset(info); loadStatus(); },
      onState: setConn
    };
    if (param('transport') === 'poll') opts.EventSource = null;

    // Follows the transaction from the position its status was read at (Pulse-Event-Id): a
    // payment confirmed after that read arrives as an event, whether the page streams, polls
    // or falls back from one to the other, and one confirmed before it is in the read.
    function follow(eventId) {
      if (sub) return;
      opts.lastEventId = eventId;
      sub = Pulse.subscribe(opts);
    }
    loadStatus();
  }

  function post(path, body, headers) {
    return fetch(path, { method: 'POST', headers: headers, body: body, credentials: 'same-origin' })
      .then(function (res) { return res.text().then(function (t) { return { status: res.status, text: t }; }); });
  }

  // Draws text as a QR code on canvas (no HTML, no image URL: the page's CSP allows neither
  // data: images nor markup from text). False when the library is missing or the text too long.
  function drawQr(canvas, text) {
    if (typeof window.qrcode !== 'function') return false;
    var qr;
    try {
      window.qrcode.stringToBytes = window.qrcode.stringToBytesFuncs['UTF-8'];
      qr = window.qrcode(0, 'M');
      qr.addData(text);
      qr.make();
    } catch (e) {
      return false;
    }
    var n = qr.getModuleCount(), cell = 4, margin = 4, size = (n + 2 * margin) * cell;
    canvas.width = canvas.height = size;
    var g = canvas.getContext('2d');
    g.fillStyle = '#fff';
    g.fillRect(0, 0, size, size);
    g.fillStyle = '#000';
    for (var r = 0; r < n; r++) {
      for (var c = 0; c < n; c++) if (qr.isDark(r, c)) g.fillRect((c + margin) * cell, (r + margin) * cell, cell, cell);
    }
    canvas.setAttribute('data-text', text);
    return true;
  }

  function initView() {
    $('init-view').hidden = false;
    var form = $('init-form');
    form.insertBefore(P.tokenField('Your access token (JWT)'), form.firstChild);
    $('jwt').required = true;
    if (jwt) $('jwt').value = jwt;
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var err = $('init-error');
      var token_ = $('jwt').value.replace(/\s+/g, '');
      var amount = Number($('init-amount').value);
      var desc = $('init-desc').value.trim() || 'Wallet top-up';
      if (!token_) return show(err, 'Paste your access token first.');
      if (!(amount >= 1 && amount <= 1000000000 && Math.floor(amount) === amount)) {
        return show(err, 'The amount must be a whole number of VND between 1 and 1,000,000,000.');
      }
      if (desc.length > 25) return show(err, 'The description is limited to 25 characters.');
      show(err, '');
      $('init-submit').disabled = true;
      Pulse.api('POST', 'api/topup/init', { amount: amount, description: desc }, token_).then(function (r) {
        $('init-submit').disabled = false;
        if ((r.status === 201 || r.status === 200) && r.json && r.json.tx_ref) {
          store(JWT_KEY, token_);
          location.href = 'topup.html?tx_ref=' + encodeURIComponent(r.json.tx_ref) +
            '&token=' + encodeURIComponent(r.json.stream_token || '');
          return;
        }
        show(err, errorText(r, 'The payment could not be created'));
      }, function () {
        $('init-submit').disabled = false;
        show(err, 'Could not reach the server.');
      });
    });
  }
})();
