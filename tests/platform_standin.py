#!/usr/bin/env python3
"""platform_standin.py - scripted stand-ins for the services Pulse calls out
to: Facebook's Graph API (Send API), Zalo OA's message API, TikTok's
business messaging send, and PayOS's payment request lookup. One threaded
HTTP server on 127.0.0.1 and a free port; each service under its own prefix,
so a test points the *_URL settings at it:

  FB_GRAPH_URL     = URL + "/fb/v19.0"    POST /me/messages?access_token=T
  ZALO_OA_API_URL  = URL + "/zalo"        POST /v3.0/oa/message/cs, header access_token: T
  TIKTOK_API_URL   = URL + "/tiktok/open_api/v1.3"
                                          POST /business/message/send/, header Access-Token: T
  PAYOS_API_URL    = URL + "/payos"       GET /v2/payment-requests/{orderCode} (and, for
                                          init and cancel, POST /v2/payment-requests and
                                          POST /v2/payment-requests/{orderCode}/cancel),
                                          headers x-client-id, x-api-key

It checks each request as the real service does (token, path, method,
JSON shape) and answers the way that service answers, errors included:
  Graph API: HTTP 400 {"error": {"message", "type": "OAuthException",
             "code": 190}} for a bad token, code 100 for a bad body;
             success {"recipient_id", "message_id"}.
  Zalo OA:   HTTP 200 always; {"error": -216, "message"} for a bad token,
             -201 for a bad body; success {"error": 0, "message": "Success",
             "data": {"message_id", "user_id"}}.
  TikTok:    HTTP 200 {"code": 40105, "message"} for a bad token, 40002 for
             a bad body; success {"code": 0, "message": "OK", "request_id",
             "data": {"message": {"message_id"}}}.
  PayOS:     HTTP 401 {"code": "401", "desc"} without the right client id
             and key; unknown order {"code": "101", "desc", "data": null};
             else {"code": "00", "desc": "success", "data": {...},
             "signature"} with data signed as PayOS signs (sorted
             key=value&..., HMAC-SHA256 with the checksum key). A creation
             must carry PayOS's signature over amount, cancelUrl,
             description, orderCode and returnUrl; the order it makes is
             PENDING until a test sets it (orders) or cancels it.

Failures on demand: plan(service, [action, ...]) queues what the next
requests to that service get, in order, before the normal answer resumes:
  {"status": 500, "json": {...}}   that answer (the body optional)
  "stall"                           nothing, until the client goes (at most 30 s)
  "drop"                            the connection closed without an answer
  a callable                        called with the request's record first (it may
                                    call Pulse: a receipt the platform posts before
                                    its answer arrives), then the normal answer;
                                    answer_id(rec) is the message id it will carry
Every request is recorded (requests): service, method, path, query,
headers (lower-case names), body (parsed JSON or None), the answer's
status (None for stall/drop), and whether it was accepted.
"""
import itertools
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import payos_sign

SERVICES = {"fb": "facebook", "zalo": "zalo", "tiktok": "tiktok", "payos": "payos"}


def answer_id(rec):
    """The message id a successful send recorded as rec is answered with."""
    return {"facebook": "m_fb_%d", "zalo": "z_%d", "tiktok": "t_%d"}.get(rec["service"], "x_%d") % rec["n"]


def _text(obj, *path):
    for p in path:
        if not isinstance(obj, dict) or p not in obj:
            return None
        obj = obj[p]
    return obj if isinstance(obj, str) and obj != "" else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self):
        st = self.server.standin
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        prefix = url.path.split("/")[1] if url.path.count("/") >= 1 else ""
        service = SERVICES.get(prefix)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = {"service": service, "method": self.command, "path": url.path[len(prefix) + 1:],
               "query": dict(urllib.parse.parse_qsl(url.query)),
               "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "raw": raw.decode("utf-8", "replace"),
               "status": None, "accepted": False, "t": time.monotonic()}
        rec["n"] = next(st.ids)
        st._record(rec)
        action = st._next(service)
        if callable(action):
            action(rec)
            action = None
        if action == "stall":
            end = time.monotonic() + 30
            while time.monotonic() < end and not st.stopping.is_set():
                time.sleep(0.05)
            self.close_connection = True
            return
        if action == "drop":
            self.close_connection = True
            return
        if isinstance(action, dict):
            return self._json(rec, action.get("status", 200), action.get("json", {}))
        if service is None:
            return self._json(rec, 404, {"error": "no such service"})
        getattr(self, "_" + service)(st, rec)

    def _json(self, rec, status, obj):
        data = json.dumps(obj).encode()
        rec["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # ---- the services

    def _facebook(self, st, rec):
        b = rec["body"]
        if rec["method"] != "POST" or rec["path"] != "/v19.0/me/messages":
            return self._json(rec, 400, {"error": {"message": "Unknown path components: %s" % rec["path"],
                                                   "type": "OAuthException", "code": 2500}})
        if rec["query"].get("access_token") != st.tokens["facebook"]:
            return self._json(rec, 400, {"error": {"message": "Invalid OAuth access token - Cannot parse access token",
                                                   "type": "OAuthException", "code": 190}})
        if not rec["headers"].get("content-type", "").startswith("application/json") or \
                _text(b, "recipient", "id") is None or b.get("messaging_type") != "RESPONSE" or \
                _text(b, "message", "text") is None or len(b["message"]["text"]) > 2000:
            return self._json(rec, 400, {"error": {"message": "(#100) The parameter recipient is required",
                                                   "type": "OAuthException", "code": 100}})
        rec["accepted"] = True
        self._json(rec, 200, {"recipient_id": b["recipient"]["id"], "message_id": answer_id(rec)})

    def _zalo(self, st, rec):
        b = rec["body"]
        if rec["method"] != "POST" or rec["path"] != "/v3.0/oa/message/cs":
            return self._json(rec, 404, {"error": 404, "message": "not found"})
        if rec["headers"].get("access_token") != st.tokens["zalo"]:
            return self._json(rec, 200, {"error": -216, "message": "Access token is invalid"})
        if _text(b, "recipient", "user_id") is None or _text(b, "message", "text") is None:
            return self._json(rec, 200, {"error": -201, "message": "Parameters are invalid"})
        rec["accepted"] = True
        self._json(rec, 200, {"error": 0, "message": "Success",
                              "data": {"message_id": answer_id(rec), "user_id": b["recipient"]["user_id"]}})

    def _tiktok(self, st, rec):
        b = rec["body"]
        if rec["method"] != "POST" or rec["path"] != "/open_api/v1.3/business/message/send/":
            return self._json(rec, 404, {"code": 40404, "message": "not found"})
        if rec["headers"].get("access-token") != st.tokens["tiktok"]:
            return self._json(rec, 200, {"code": 40105, "message": "Access token is incorrect or has been revoked."})
        if _text(b, "business_id") is None or _text(b, "recipient") is None or b.get("message_type") != "TEXT" or \
                _text(b, "text", "body") is None:
            return self._json(rec, 200, {"code": 40002, "message": "Invalid parameters"})
        rec["accepted"] = True
        self._json(rec, 200, {"code": 0, "message": "OK", "request_id": "req-%d" % next(st.ids),
                              "data": {"message": {"message_id": answer_id(rec)}}})

    def _payos(self, st, rec):
        parts = rec["path"].split("/")
        if parts[:3] != ["", "v2", "payment-requests"] or len(parts) not in (3, 4, 5):
            return self._json(rec, 404, {"code": "404", "desc": "Not found"})
        if rec["headers"].get("x-client-id") != st.tokens["payos_client"] or \
                rec["headers"].get("x-api-key") != st.tokens["payos_key"]:
            return self._json(rec, 401, {"code": "401", "desc": "Unauthorized"})
        if rec["method"] == "POST" and len(parts) == 3:
            return self._payos_create(st, rec)
        if rec["method"] == "POST" and len(parts) == 5 and parts[4] == "cancel" and parts[3] in st.orders:
            st.orders[parts[3]]["status"] = "CANCELLED"
        elif rec["method"] != "GET" or len(parts) != 4:
            return self._json(rec, 404, {"code": "404", "desc": "Not found"})
        order = st.orders.get(parts[3])
        if order is None:
            return self._json(rec, 200, {"code": "101", "desc": "Payment request not found", "data": None,
                                         "signature": None})
        data = {"id": "plink%s" % parts[3], "orderCode": int(parts[3]), "amount": order["amount"],
                "amountPaid": order["amount"] if order["status"] == "PAID" else 0,
                "amountRemaining": 0 if order["status"] == "PAID" else order["amount"],
                "status": order["status"], "createdAt": "2026-12-05T08:00:00+07:00",
                "transactions": [], "cancellationReason": None, "canceledAt": None}
        data.update(order.get("extra", {}))
        rec["accepted"] = True
        sig = "0" * 64 if order.get("bad_signature") else payos_sign(data, st.tokens["payos_checksum"])
        self._json(rec, 200, {"code": "00", "desc": "success", "data": data, "signature": sig})


    def _payos_create(self, st, rec):
        """POST /v2/payment-requests: signed over amount, cancelUrl,
        description, orderCode and returnUrl (sorted), as PayOS documents."""
        b = rec["body"] if isinstance(rec["body"], dict) else {}
        keys = ("amount", "cancelUrl", "description", "orderCode", "returnUrl")
        if any(k not in b for k in keys) or not isinstance(b.get("orderCode"), int) or \
                not isinstance(b.get("amount"), int):
            return self._json(rec, 200, {"code": "20", "desc": "Thông tin truyền lên không đúng", "data": None})
        if b.get("signature") != payos_sign({k: b[k] for k in keys}, st.tokens["payos_checksum"]):
            return self._json(rec, 200, {"code": "201", "desc": "Chữ ký không hợp lệ", "data": None})
        code = str(b["orderCode"])
        if code in st.orders:
            return self._json(rec, 200, {"code": "231", "desc": "Đơn thanh toán đã tồn tại", "data": None})
        st.orders[code] = {"status": "PENDING", "amount": b["amount"]}
        data = {"bin": "970422", "accountNumber": "113366668888", "accountName": "PULSE TEST",
                "amount": b["amount"], "description": b["description"], "orderCode": b["orderCode"],
                "currency": "VND", "paymentLinkId": "plink%s" % code, "status": "PENDING",
                "checkoutUrl": "https://pay.payos.vn/web/plink%s" % code, "qrCode": "000201010212%s" % code}
        rec["accepted"] = True
        self._json(rec, 200, {"code": "00", "desc": "success", "data": data,
                              "signature": payos_sign(data, st.tokens["payos_checksum"])})


class Platforms:
    """start(), url, requests, plan(), orders, stop()."""

    def __init__(self, tokens):
        self.tokens = tokens     # facebook, zalo, tiktok, payos_client, payos_key, payos_checksum
        self.requests = []
        self.orders = {}         # str(orderCode) -> {"status", "amount", "extra"?, "bad_signature"?}
        self.stopping = threading.Event()
        self.ids = itertools.count(1)
        self._plans = {}
        self._lock = threading.Lock()
        self._server = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.standin = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def plan(self, service, actions):
        with self._lock:
            self._plans.setdefault(service, []).extend(actions)

    def _next(self, service):
        with self._lock:
            q = self._plans.get(service)
            return q.pop(0) if q else None

    def _record(self, rec):
        with self._lock:
            self.requests.append(rec)

    def of(self, service):
        with self._lock:
            return [r for r in self.requests if r["service"] == service]
