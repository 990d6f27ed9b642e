"""Schemathesis against `woolink dev`, driven by the OpenAPI reference it serves.

Starts the woolink binary (WOOLINK_BIN) as `woolink dev` on free ports (in-memory backend, demo
tenant), gives it something to find (a login, st_demo_1 linked, one signed order delivered through
the webhook), then runs schemathesis on `/openapi.json` with each credential the reference names
(tenant API key, session token, store API key), a bounded number of examples per operation and a
fixed seed. Fails on any 5xx, any answer that contradicts the reference (status, content type,
body, headers), invalid data accepted, a missing credential not answered 401, and the other
checks listed in CHECKS. Reports land in target/schemathesis/.

Environment: WOOLINK_BIN, WOOLINK_FUZZ_EXAMPLES (default 25), WOOLINK_FUZZ_SEED (default 20261130).
"""

import base64
import hashlib
import hmac
import json
import os
import pathlib
import subprocess
import sys
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "schemathesis"
WOOLINK = os.environ.get("WOOLINK_BIN", str(ROOT / "target" / "debug" / "woolink"))
EXAMPLES = os.environ.get("WOOLINK_FUZZ_EXAMPLES", "25")
SEED = os.environ.get("WOOLINK_FUZZ_SEED", "20261130")
DEMO_KEY = "wlt_demo_key_for_local_runs_only_0000000"
DEVICE = "ab" * 32

# Every check schemathesis has but one: `positive_data_acceptance` expects any body the schema
# allows to be accepted, and the API's rules go further than a schema says (text is trimmed
# before its length is judged, times must not be in the future, SKUs must not repeat, a shop's
# address must answer). Those refusals are 400/422 with a code, as the reference documents.
CHECKS = """
[checks]
positive_data_acceptance.enabled = false
"""


def call(base, method, path, body=None, token=None, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        sys.exit(f"api-fuzz: {method} {path} answered {e.code}: {e.read().decode(errors='replace')}")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    log = open(OUT / "woolink.log", "w")
    dev = subprocess.Popen(
        [WOOLINK, "dev", "--port", "0", "--tls-port", "0", "--poll-minutes", "0"],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    try:
        base = None
        for line in dev.stdout:
            log.write(line)
            if line.startswith("listening on "):
                base = line.split()[-1].strip()
                break
        if not base:
            sys.exit("api-fuzz: woolink dev did not start; see target/schemathesis/woolink.log")

        token = call(base, "POST", "/v1/connect/login", {
            "code": "DEMO", "email": "ops@demo.test", "password": "demo-password-1",
            "deviceId": DEVICE})["token"]
        linked = call(base, "POST", "/v1/connect/link", {
            "storeId": "st_demo_1", "storeUrl": "http://127.0.0.1:9", "deviceId": DEVICE},
            token=token)
        order = (ROOT / "tests/fixtures/woocommerce/docs-v3-order-retrieve-response.json").read_bytes()
        secret = linked["webhook"]["secret"].encode()
        signature = base64.b64encode(hmac.new(secret, order, hashlib.sha256).digest()).decode()
        delivery = linked["webhook"]["deliveryUrl"]
        call(base, "POST", delivery[delivery.index("/v1/"):], order, headers={
            "x-wc-webhook-topic": "order.created", "x-wc-webhook-signature": signature})
        order_id = json.loads(order)["id"]

        config = OUT / "schemathesis.toml"
        config.write_text(CHECKS + f"""
[auth.openapi.tenantKey]
bearer = "{DEMO_KEY}"
[auth.openapi.session]
bearer = "{token}"
[auth.openapi.storeKey]
bearer = "{linked['apiKey']}"

[dictionaries.stores]
values = ["st_demo_1", "st_demo_2"]
[dictionaries.orders]
values = [{order_id}]
[dictionaries.tenants]
values = ["DEMO", "demo"]

# The contract answers a delivery for a disconnected store 410 before it reads the body (so
# WooCommerce hears "gone" whatever it sends): a malformed body there is not the client error
# this check expects. Every other check still applies to the route.
[[operations]]
include-path = "/v1/webhooks/woocommerce/{{storeId}}"
checks.negative_data_rejection.enabled = false

[parameters]
"path.storeId" = {{ dictionary = "stores", probability = 0.7 }}
"path.orderId" = {{ dictionary = "orders", probability = 0.7 }}
"path.tenantCode" = {{ dictionary = "tenants", probability = 0.7 }}
""")
        st = ROOT / ".venv" / "bin" / "schemathesis"
        run = subprocess.run([
            str(st), "--no-color", "--config-file", str(config), "run", f"{base}/openapi.json",
            "--max-examples", EXAMPLES, "--seed", SEED,
            "--max-redirects", "0", "--generation-database", "none", "--workers", "1",
            "--report", "junit", "--report-dir", str(OUT),
        ], cwd=OUT)
        return run.returncode
    finally:
        dev.terminate()
        try:
            dev.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dev.kill()


if __name__ == "__main__":
    sys.exit(main())
