#!/usr/bin/env python3
"""payos_standin.py - a scripted stand-in for PayOS's merchant API, for tests.

It checks each request as PayOS does, then answers as told. Python 3
standard library only; 127.0.0.1, a free port, one thread per connection.

  POST /v2/payment-requests             creates a payment link
  POST /v2/payment-requests/{id}/cancel cancels one

Checks (each failure is recorded in the request's "problems" and answered
as PayOS answers a refusal, HTTP 200 {"code": <not "00">, "desc", "data": null}):
  - headers x-client-id and x-api-key are the configured ones   (code "401")
  - Content-Type is application/json, the body a JSON object     (code "20")
  - create: orderCode an integer in 1..2^53-1 not used before, amount an
    integer >= 1, description a string of at most 25 characters, cancelUrl
    and returnUrl strings, signature the lowercase hex HMAC-SHA256 with the
    checksum key of amount=..&cancelUrl=..&description=..&orderCode=..&returnUrl=..
    (raw values)                                                  (code "20"; "231" for an orderCode in use)
  - cancel: a known link, still PENDING (a cancelled one answers as it is),
    cancellationReason a string when present                      (code "101")
Answers {"code": "00", "desc": "success", "data": {...}, "signature"}, the
signature over data as PayOS signs (sorted keys, key=value&...).

mode (set s.mode at any time) changes every answer:
  "ok"       as above
  "stall"    reads the request, then answers nothing until the client goes
  "5xx"      HTTP 502 with an HTML body
  "4xx"      HTTP 400 with PayOS's error JSON
  "refuse"   HTTP 200, {"code": "20", "desc": "...", "data": null}
  "garbage"  HTTP 200, a body that is not JSON
  "badsig"   as "ok" but the signature is of other data
Use: s = PayosStandin(client_id, api_key, checksum_key).start(); s.url;
s.requests (list of dicts: path, headers, body, problems); s.links (by id);
s.stop().
"""
import hashlib
import hmac
import http.server
import json
import os
import select
import socketserver
import threading
import uuid

from harness import payos_sign as sign   # PayOS's signature of an object, as its webhooks carry

MAX_ORDER_CODE = 9007199254740991


def request_signature(body, key):
    s = "amount=%s&cancelUrl=%s&description=%s&orderCode=%s&returnUrl=%s" % (
        body.get("amount"), body.get("cancelUrl"), body.get("description"), body.get("orderCode"),
        body.get("returnUrl"))
    return hmac.new(key.encode(), s.encode(), hashlib.sha256).hexdigest()


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self._reply(404, {"code": "404", "desc": "not found", "data": None})

    def do_POST(self):
        s = self.server.standin
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        rec = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
               "raw": raw, "body": body, "problems": []}
        with s.lock:
            s.requests.append(rec)
            mode = s.mode
        if mode == "stall":
            # nothing until the client gives up (its end of the socket closes)
            while not select.select([self.connection], [], [], 0.05)[0] and not s.stopping:
                pass
            self.close_connection = True
            return
        if mode == "5xx":
            self._raw(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        if mode == "4xx":
            self._reply(400, {"code": "400", "desc": "Bad Request", "data": None})
            return
        if mode == "garbage":
            self._raw(200, b'{"code":"00","data":{"checkoutUrl":', "application/json")
            return
        if mode == "refuse":
            self._refuse(rec, "20", "Thông tin truyền lên không đúng.")
            return
        if rec["headers"].get("x-client-id") != s.client_id or rec["headers"].get("x-api-key") != s.api_key:
            rec["problems"].append("credentials")
            self._refuse(rec, "401", "Unauthorized")
            return
        if not rec["headers"].get("content-type", "").startswith("application/json"):
            rec["problems"].append("content-type")
        if not isinstance(body, dict):
            rec["problems"].append("body is not a JSON object")
            self._refuse(rec, "20", "body")
            return
        parts = self.path.strip("/").split("/")
        if parts == ["v2", "payment-requests"]:
            self._create(rec, body, mode)
        elif len(parts) == 4 and parts[:2] == ["v2", "payment-requests"] and parts[3] == "cancel":
            self._cancel(rec, body, parts[2], mode)
        else:
            self._reply(404, {"code": "404", "desc": "not found", "data": None})

    def _create(self, rec, body, mode):
        s = self.server.standin
        p = rec["problems"]
        code = body.get("orderCode")
        if not is_int(code) or not 1 <= code <= MAX_ORDER_CODE:
            p.append("orderCode")
        if not is_int(body.get("amount")) or body.get("amount") < 1:
            p.append("amount")
        if not isinstance(body.get("description"), str) or len(body["description"]) > 25:
            p.append("description")
        for k in ("cancelUrl", "returnUrl"):
            if not isinstance(body.get(k), str) or not body[k]:
                p.append(k)
        if body.get("signature") != request_signature(body, s.checksum_key):
            p.append("signature")
        if p:
            self._refuse(rec, "20", "invalid: " + ", ".join(p))
            return
        with s.lock:
            if code in s.order_codes:
                p.append("orderCode in use")
                self._refuse(rec, "231", "Đơn thanh toán đã tồn tại")
                return
            s.order_codes.add(code)
            link_id = uuid.uuid4().hex
            data = {"bin": "970422", "accountNumber": "VQRQ0001234", "accountName": "PULSE TEST",
                    "amount": body["amount"], "description": body["description"], "orderCode": code,
                    "currency": "VND", "paymentLinkId": link_id, "status": "PENDING",
                    "expiredAt": body.get("expiredAt"),
                    "checkoutUrl": "https://pay.payos.vn/web/" + link_id,
                    "qrCode": "00020101021238570010A000000727012700069704220113VQRQ0001234"
                              "0208QRIBFTTA53037045405%d5802VN62%02d08%s6304ABCD" % (
                                  body["amount"], len(body["description"]) + 4, body["description"])}
            s.links[link_id] = {"id": link_id, "orderCode": code, "amount": body["amount"], "status": "PENDING",
                                "returnUrl": body["returnUrl"], "cancelUrl": body["cancelUrl"],
                                "cancellationReason": None}
        self._ok(data, mode)

    def _cancel(self, rec, body, link_id, mode):
        s = self.server.standin
        reason = body.get("cancellationReason")
        if reason is not None and not isinstance(reason, str):
            rec["problems"].append("cancellationReason")
        with s.lock:
            link = s.links.get(link_id)
            if link is None or link["status"] not in ("PENDING", "CANCELLED"):
                rec["problems"].append("no such pending link")
                self._refuse(rec, "101", "Đơn thanh toán không tồn tại hoặc đã hoàn tất")
                return
            if link["status"] == "PENDING":
                link["status"] = "CANCELLED"
                link["cancellationReason"] = reason
            data = {"id": link_id, "orderCode": link["orderCode"], "amount": link["amount"], "amountPaid": 0,
                    "amountRemaining": link["amount"], "status": link["status"],
                    "createdAt": "2026-12-05T12:00:00+07:00", "transactions": [],
                    "cancellationReason": link["cancellationReason"], "canceledAt": "2026-12-05T12:01:00+07:00"}
        self._ok(data, mode)

    def _ok(self, data, mode):
        key = self.server.standin.checksum_key
        sig = sign(dict(data, amount=-1) if mode == "badsig" else data, key)
        self._reply(200, {"code": "00", "desc": "success", "data": data, "signature": sig})

    def _refuse(self, rec, code, desc):
        self._reply(200, {"code": code, "desc": desc, "data": None})

    def _reply(self, status, obj):
        self._raw(status, json.dumps(obj, ensure_ascii=False).encode(), "application/json")

    def _raw(self, status, data, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class PayosStandin:
    def __init__(self, client_id, api_key, checksum_key):
        self.client_id, self.api_key, self.checksum_key = client_id, api_key, checksum_key
        self.mode = "ok"
        self.requests, self.links, self.order_codes = [], {}, set()
        self.lock = threading.Lock()
        self.stopping = False
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.standin = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    st = PayosStandin(os.environ.get("PAYOS_CLIENT_ID", "client"), os.environ.get("PAYOS_API_KEY", "key"),
                      os.environ.get("PAYOS_CHECKSUM_KEY", "checksum")).start()
    print(st.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        st.stop()
