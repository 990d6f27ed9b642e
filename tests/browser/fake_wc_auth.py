"""A fake WooCommerce shop for the browser tests: its REST index, the `wc-auth` login and
consent screens and the server-to-server key callback as WooCommerce 7.9 implements them
(`includes/class-wc-auth.php`), and the webhook routes a new link uses.

Like WooCommerce it refuses a `callback_url` that is not https, verifies the callback's TLS
certificate (here: against the certificate `woolink dev` wrote), waits up to 60 s for the
answer, deletes the key unless the answer is 200, and only then sends the browser back to
`return_url` with `success=1&user_id=…`. Deny sends it back with `success=0`.

Test controls (not WooCommerce): GET /_test/state, POST /_test/mode?permissions=read,
POST /_test/replay (sends the last callback body again and returns its status).
"""

import base64
import html
import http.server
import json
import secrets
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request

ADMIN_USER = "shop-admin"
ADMIN_PASSWORD = "shop-admin-password"


class Shop:
    def __init__(self, trust_cert: str):
        self.trust_cert = trust_cert
        self.lock = threading.Lock()
        self.keys = {}  # consumer_key -> {secret, permissions, key_id}
        self.webhooks = {}  # id -> {...}
        self.callbacks = []  # (callback_url, body bytes, status)
        self.sessions = set()
        self.nonces = set()
        self.grant = None  # None: the scope asked for; else e.g. "read"
        self.next_id = 100
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()

    def state(self):
        with self.lock:
            return {
                "keys": {k: {"permissions": v["permissions"], "key_id": v["key_id"]} for k, v in self.keys.items()},
                "webhooks": list(self.webhooks.values()),
                "callbacks": [{"url": u, "status": s} for u, _, s in self.callbacks],
            }

    def post_callback(self, url: str, body: bytes) -> int:
        ctx = ssl.create_default_context(cafile=self.trust_cert)
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json;charset=UTF-8",
            "User-Agent": "WordPress/6.1.9; " + self.url,
        })
        try:
            with urllib.request.urlopen(req, timeout=60, context=ctx) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except Exception:  # noqa: BLE001 - any transport failure is WooCommerce's WP_Error
            status = 0
        with self.lock:
            self.callbacks.append((url, body, status))
        return status

    def _handler(shop):  # noqa: N805 - the closure's `self` is the request handler's
        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status, body, ctype="text/html; charset=utf-8", headers=()):
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _redirect(self, location, cookie=None):
                headers = [("Location", location)]
                if cookie:
                    headers.append(("Set-Cookie", cookie))
                self._send(302, "", headers=headers)

            def _json(self, status, value):
                self._send(status, json.dumps(value), "application/json; charset=UTF-8")

            def _logged_in(self):
                for part in self.headers.get("Cookie", "").split(";"):
                    k, _, v = part.strip().partition("=")
                    if k == "wp_logged_in" and v in shop.sessions:
                        return True
                return False

            def _key(self, need_write):
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Basic "):
                    return False
                ck, _, cs = base64.b64decode(auth[6:]).decode().partition(":")
                with shop.lock:
                    k = shop.keys.get(ck)
                return bool(k and secrets.compare_digest(k["secret"], cs)
                            and (not need_write or k["permissions"] in ("write", "read_write")))

            def _params(self):
                return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).items()}

            def _die(self, status, message):
                self._send(status, f"<!doctype html><html><body id=\"error-page\"><div class=\"wp-die-message\">"
                                   f"Error: {html.escape(message)}</div></body></html>")

            def do_GET(self):  # noqa: N802
                path = urllib.parse.urlsplit(self.path).path
                p = self._params()
                if path in ("/wp-json/", "/wp-json"):
                    return self._json(200, {"name": "Fake Shop", "namespaces": ["wp/v2", "wc/v1", "wc/v2", "wc/v3"]})
                if path == "/_test/state":
                    return self._json(200, shop.state())
                if path.rstrip("/") == "/wc-auth/v1/authorize":
                    for field in ("app_name", "scope", "user_id", "return_url", "callback_url"):
                        if not p.get(field):
                            return self._die(400, f"Missing parameter {field}")
                    if p["scope"] not in ("read", "write", "read_write"):
                        return self._die(400, "Invalid scope")
                    if not p["callback_url"].startswith("https://"):
                        return self._die(400, "The callback_url needs to be over SSL")
                    query = urllib.parse.urlencode({k: p[k] for k in ("app_name", "user_id", "return_url", "callback_url", "scope")})
                    if not self._logged_in():
                        return self._redirect(f"/wc-auth/v1/login/?{query}")
                    nonce = secrets.token_hex(5)
                    with shop.lock:
                        shop.nonces.add(nonce)
                    deny = p["return_url"] + ("&" if "?" in p["return_url"] else "?") + urllib.parse.urlencode(
                        {"success": 0, "user_id": p["user_id"]})
                    approve = f"/wc-auth/v1/access_granted/?{query}&wc_auth_nonce={nonce}"
                    return self._send(200, f"""<!doctype html><html lang="en"><head><title>Fake Shop &rsaquo; Approve</title></head>
<body><h1>{html.escape(p['app_name'])} would like to connect to your store</h1>
<p>This will give "{html.escape(p['app_name'])}" <strong>{html.escape(p['scope'])}</strong> access.</p>
<p><a id="approve" class="button wc-auth-approve" href="{html.escape(approve)}">Approve</a>
<a id="deny" class="button wc-auth-deny" href="{html.escape(deny)}">Deny</a></p></body></html>""")
                if path.rstrip("/") == "/wc-auth/v1/login":
                    return self._send(200, """<!doctype html><html lang="en"><head><title>Fake Shop &rsaquo; Log in</title></head>
<body><form method="post" class="wc-auth-login"><p><label for="username">Username or email address</label>
<input type="text" name="username" id="username"></p><p><label for="password">Password</label>
<input type="password" name="password" id="password"></p>
<p><button type="submit" name="login" value="Login" id="login">Login</button></p></form></body></html>""")
                if path.rstrip("/") == "/wc-auth/v1/access_granted":
                    if not self._logged_in():
                        return self._die(401, "You do not have permission to access this page")
                    with shop.lock:
                        ok = p.get("wc_auth_nonce") in shop.nonces
                        shop.nonces.discard(p.get("wc_auth_nonce"))
                    if not ok:
                        return self._die(403, "Invalid nonce verification")
                    ck, cs = "ck_" + secrets.token_hex(20), "cs_" + secrets.token_hex(20)
                    with shop.lock:
                        shop.next_id += 1
                        key_id = shop.next_id
                        permissions = shop.grant or p["scope"]
                        shop.keys[ck] = {"secret": cs, "permissions": permissions, "key_id": key_id}
                    body = json.dumps({"key_id": key_id, "user_id": p["user_id"], "consumer_key": ck,
                                       "consumer_secret": cs, "key_permissions": permissions}).encode()
                    status = shop.post_callback(p["callback_url"], body)
                    if status != 200:
                        with shop.lock:
                            shop.keys.pop(ck, None)
                        return self._die(401, "An error occurred in the request and at the time were unable to send the consumer data")
                    ret = p["return_url"] + ("&" if "?" in p["return_url"] else "?") + urllib.parse.urlencode(
                        {"success": 1, "user_id": p["user_id"]})
                    return self._redirect(ret)
                if path == "/wp-json/wc/v3/webhooks":
                    if not self._key(False):
                        return self._json(401, {"code": "woocommerce_rest_cannot_view", "data": {"status": 401}})
                    with shop.lock:
                        return self._json(200, list(shop.webhooks.values()))
                return self._die(404, "Page not found")

            def do_POST(self):  # noqa: N802
                path = urllib.parse.urlsplit(self.path).path
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if path == "/_test/mode":
                    shop.grant = self._params().get("permissions") or None
                    return self._json(200, {"grant": shop.grant})
                if path == "/_test/replay":
                    with shop.lock:
                        url, body, _ = shop.callbacks[-1]
                    return self._json(200, {"status": shop.post_callback(url, body)})
                if path.rstrip("/") == "/wc-auth/v1/login":
                    form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
                    if form.get("username") == ADMIN_USER and form.get("password") == ADMIN_PASSWORD:
                        session = secrets.token_hex(16)
                        with shop.lock:
                            shop.sessions.add(session)
                        query = urllib.parse.urlsplit(self.path).query
                        return self._redirect(f"/wc-auth/v1/authorize/?{query}", f"wp_logged_in={session}; Path=/; HttpOnly")
                    return self._die(401, "The password you entered is incorrect")
                if path == "/wp-json/wc/v3/webhooks":
                    if not self._key(True):
                        return self._json(401, {"code": "woocommerce_rest_cannot_create", "data": {"status": 401}})
                    body = json.loads(raw or b"{}")
                    with shop.lock:
                        shop.next_id += 1
                        hook = {"id": shop.next_id, "status": "active", "topic": body.get("topic"),
                                "delivery_url": body.get("delivery_url"), "name": body.get("name")}
                        shop.webhooks[hook["id"]] = hook
                    return self._json(201, hook)
                return self._die(404, "Page not found")

            def do_DELETE(self):  # noqa: N802
                path = urllib.parse.urlsplit(self.path).path
                if path.startswith("/wp-json/wc/v3/webhooks/"):
                    if not self._key(True):
                        return self._json(401, {"code": "woocommerce_rest_cannot_delete", "data": {"status": 401}})
                    hook_id = int(path.rsplit("/", 1)[1])
                    with shop.lock:
                        hook = shop.webhooks.pop(hook_id, None)
                    return self._json(200 if hook else 404, hook or {"code": "woocommerce_rest_webhook_invalid_id"})
                return self._die(404, "Page not found")

        return H
