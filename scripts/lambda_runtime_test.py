"""Every function binary on the Lambda runtime path.

Starts a moto server (DynamoDB, SQS), creates the table and queues the SAM template would,
seeds a tenant with the `woolink` CLI, runs every function under `cargo lambda watch`
(the Lambda Runtime API emulator) and drives them with `cargo lambda invoke --data-file` on
API Gateway v2 and SQS event JSON, checking each response.

Run through scripts/lambda-runtime-test (which prepares the tools).
"""
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
FIX = os.path.join(ROOT, "tests", "fixtures", "apigw")
DEVICE = "1" * 64
KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
TENANT_KEY = "wlt_" + "7" * 40
checks = 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def emf_lines(path):
    """The EMF lines in a function's output, each checked against the specification's shape
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
    `_aws.Timestamp` in epoch milliseconds, `CloudWatchMetrics` directives with a namespace,
    dimension sets of at most 30 names, at most 100 metrics each with a valid unit, and every
    dimension and metric named at the top level with a string or number value."""
    units = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
             "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
             "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
             "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
             "Count/Second", "None"}
    out, problems = [], []

    def need(cond, what):
        if not cond:
            problems.append(what)

    with open(path) as f:
        for raw in f:
            i = raw.find('{"')
            if i < 0 or '"_aws"' not in raw:
                continue
            line = json.loads(raw[i:])
            aws = line["_aws"]
            need(isinstance(aws.get("Timestamp"), int) and aws["Timestamp"] > 1_600_000_000_000, "timestamp in ms")
            for d in aws.get("CloudWatchMetrics", []):
                need(isinstance(d.get("Namespace"), str) and 0 < len(d["Namespace"]) <= 255, "namespace")
                for dims in d.get("Dimensions", []):
                    need(len(dims) <= 30 and all(isinstance(line.get(n), str) for n in dims),
                         f"dimensions named at the top level as strings ({dims})")
                need(0 < len(d.get("Metrics", [])) <= 100, "1-100 metrics per directive")
                for m in d.get("Metrics", []):
                    need(m.get("Unit", "None") in units, f"unit {m.get('Unit')}")
                    need(isinstance(line.get(m.get("Name")), (int, float)), f"value of {m.get('Name')}")
            out.append(line)
    expect(out and not problems, f"{len(out)} EMF lines in the specification's shape {problems[:3]}")
    return out


def expect(cond, what):
    global checks
    checks += 1
    print(("  ok   " if cond else "  FAIL ") + what, flush=True)
    if not cond:
        raise SystemExit(f"lambda runtime test failed: {what}")


def main():
    moto_port, invoke_port = free_port(), free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    procs = []
    tmp = tempfile.mkdtemp(prefix="woolink-lambda-")
    try:
        procs.append(subprocess.Popen([os.path.join(VENV_BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"{moto_url}/moto-api/")
        aws = dict(endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        ddb, sqs = boto3.client("dynamodb", **aws), boto3.client("sqs", **aws)
        table = "woolink-lambda"
        ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                                               for n in ["pk", "sk", "pollShard", "pollKey"]],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                         GlobalSecondaryIndexes=[{"IndexName": "poll", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                                  "KeySchema": [{"AttributeName": "pollShard", "KeyType": "HASH"},
                                                                {"AttributeName": "pollKey", "KeyType": "RANGE"}]}])
        dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue = sqs.create_queue(QueueName="orders", Attributes={
            "VisibilityTimeout": "180", "MaximumMessageSize": "1048576",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})["QueueUrl"]
        jobs = sqs.create_queue(QueueName="catch-up", Attributes={"VisibilityTimeout": "1800"})["QueueUrl"]
        ship_dlq = sqs.create_queue(QueueName="shipments-dlq")["QueueUrl"]
        ship_dlq_arn = sqs.get_queue_attributes(QueueUrl=ship_dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        shipments = sqs.create_queue(QueueName="shipments", Attributes={
            "VisibilityTimeout": "540",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": ship_dlq_arn, "maxReceiveCount": "16"})})["QueueUrl"]

        env = dict(os.environ, AWS_ENDPOINT_URL=moto_url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", WOOLINK_TABLE=table, WOOLINK_SECRETS_KEY=KEY,
                   WOOLINK_QUEUE_URL=queue, WOOLINK_DLQ_URL=dlq, WOOLINK_JOBS_QUEUE_URL=jobs,
                   WOOLINK_SHIPMENTS_QUEUE_URL=shipments, WOOLINK_SHIPMENTS_DLQ_URL=ship_dlq, PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
        seed = os.path.join(tmp, "seed.json")
        with open(seed, "w") as f:
            # No fulfilment endpoint: nothing here may call outside this machine, so the
            # in-scope order's delivery fails (and is retried) without any network traffic.
            json.dump({"tenants": [{"code": "ACME", "name": "Acme Couriers", "active": True,
                                    "users": [{"email": "ops@acme.test", "password": "correct horse battery staple"}],
                                    "stores": [{"id": "st_a1", "name": "Acme Shop", "customerId": "cus_a1"}],
                                    "apiKeys": [{"key": TENANT_KEY, "scopes": ["shipments:write", "shipments:read",
                                                                         "stores:read", "inventory:write"]}]}]}, f)
        subprocess.run(["cargo", "run", "-q", "-p", "woolink-cli", "--", "seed", seed, "--table", table],
                       cwd=ROOT, env=env, check=True)

        env_file = os.path.join(tmp, "lambda.env")
        with open(env_file, "w") as f:
            for k in ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "WOOLINK_TABLE",
                      "WOOLINK_SECRETS_KEY", "WOOLINK_QUEUE_URL", "WOOLINK_DLQ_URL", "WOOLINK_JOBS_QUEUE_URL",
                      "WOOLINK_SHIPMENTS_QUEUE_URL", "WOOLINK_SHIPMENTS_DLQ_URL"]:
                f.write(f'{k}="{env[k]}"\n')
            f.write("RUST_LOG=warn\n")
            # As the template sets it: metrics as EMF lines on the functions' stdout.
            f.write("WOOLINK_METRICS=emf\n")
            # The webhook function's link cache: a disconnect is seen within this many seconds.
            f.write("WOOLINK_LINK_CACHE_SECS=1\n")
        watch = subprocess.Popen(["cargo", "lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P", str(invoke_port),
                                       "--env-file", env_file, "-q"], cwd=ROOT, env=env,
                                 stdout=open(os.path.join(tmp, "watch.out"), "w"), stderr=open(os.path.join(tmp, "watch.log"), "w"))
        procs.append(watch)
        time.sleep(1)

        def invoke(function, event):
            path = os.path.join(tmp, f"event-{time.time_ns()}.json")
            with open(path, "w") as f:
                json.dump(event, f)
            deadline = time.time() + 600
            while True:
                r = subprocess.run(["cargo", "lambda", "invoke", "-A", "127.0.0.1", "-P", str(invoke_port), function,
                                    "--data-file", path, "--output-format", "json"],
                                   cwd=ROOT, env=env, capture_output=True, text=True)
                if r.returncode == 0:
                    return json.loads(r.stdout)
                if watch.poll() is not None:
                    with open(os.path.join(tmp, "watch.log")) as log:
                        raise SystemExit(f"cargo lambda watch exited:\n{log.read()}")
                if time.time() > deadline:
                    raise SystemExit(f"invoke {function} failed: {r.stderr}")
                time.sleep(1)  # the emulator may still be compiling the function

        def apigw(name, **replace):
            with open(os.path.join(FIX, name)) as f:
                raw = f.read()
            for k, v in replace.items():
                raw = raw.replace("{{" + k + "}}", v)
            return json.loads(raw)

        def body(resp):
            b = resp.get("body") or ""
            if resp.get("isBase64Encoded"):
                b = base64.b64decode(b).decode()
            return json.loads(b) if b else None

        print("connect", flush=True)
        r = invoke("connect", apigw("connect-resolve.json"))
        expect(r["statusCode"] == 200 and body(r)["tenant"]["code"] == "ACME", "resolve → 200 ACME")
        r = invoke("connect", apigw("connect-login-base64.json"))
        expect(r["statusCode"] == 200, "login (base64 body) → 200")
        token = body(r)["token"]
        r = invoke("connect", apigw("connect-stores.json", TOKEN=token))
        expect(r["statusCode"] == 200 and body(r)["stores"][0]["id"] == "st_a1", "stores → st_a1")
        ev = apigw("connect-link.json", TOKEN=token)
        ev["body"] = json.dumps({"storeId": "st_a1", "storeUrl": "https://93.184.216.34", "deviceId": DEVICE})
        r = invoke("connect", ev)
        expect(r["statusCode"] == 201, f"link → 201 ({r['statusCode']})")
        link = body(r)
        api_key, secret = link["apiKey"], link["webhook"]["secret"]
        expect(link["webhook"]["deliveryUrl"].startswith("https://abc123defg.execute-api"), "delivery URL from the API's host")
        r = invoke("connect", apigw("connect-store-status.json", API_KEY=api_key))
        expect(r["statusCode"] == 200 and body(r)["status"] == "connected", "store status → connected")
        r = invoke("connect", apigw("connect-resolve-malformed.json"))
        expect(r["statusCode"] == 400 and body(r)["error"]["code"] == "invalid_request", "malformed → 400")

        print("webhook", flush=True)
        r = invoke("webhook", apigw("webhook-ping.json"))
        expect(r["statusCode"] == 200, "ping → 200")
        for status, order_id in [("pending", 501), ("processing", 502)]:
            order = {"id": order_id, "status": status, "date_modified_gmt": "2026-11-23T10:00:00", "line_items": []}
            raw = json.dumps(order, separators=(",", ":")).replace("/", "\\/")
            sig = base64.b64encode(hmac.new(secret.encode(), raw.encode(), hashlib.sha256).digest()).decode()
            ev = apigw("webhook-order-updated.json")
            ev["body"] = raw
            ev["headers"]["x-wc-webhook-signature"] = sig
            ev["headers"]["content-length"] = str(len(raw))
            r = invoke("webhook", ev)
            expect(r["statusCode"] == 200 and body(r)["status"] == "queued", f"signed {status} order → queued")
        ev["headers"]["x-wc-webhook-signature"] = "AAAA" + sig[4:]
        r = invoke("webhook", ev)
        expect(r["statusCode"] == 401, "wrong signature → 401")

        print("sync-worker", flush=True)
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        expect(len(got) == 2, "two messages on the queue")
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795467600000",
                                   "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795467600000"},
                    "messageAttributes": {}, "md5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),
                    "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
                    "awsRegion": "us-east-1"} for m in got]
        poison = dict(records[0], messageId="poison-1", body="{not an envelope")
        r = invoke("sync-worker", {"Records": records + [poison]})
        failed = [f["itemIdentifier"] for f in r["batchItemFailures"]]
        # The pending order is skipped (success); the processing one has no tenant endpoint to
        # go to yet (retry); the poison record can never decode: parked in the DLQ at once and
        # reported done (so the event source deletes it instead of retrying it).
        expect("poison-1" not in failed, "undecodable record not retried")
        parked = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        expect([m["Body"] for m in parked] == ["{not an envelope"], "undecodable record parked in the DLQ")
        by_order = {json.loads(m["Body"])["orderId"]: m["MessageId"] for m in got}
        expect(by_order[501] not in failed, "pending order handled (skipped)")
        expect(by_order[502] in failed, "tenant without an endpoint → retried")
        ev = apigw("connect-store-status.json", API_KEY=api_key)
        ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/v1/stores/st_a1/orders/501"
        r = invoke("connect", ev)
        expect(r["statusCode"] == 200 and body(r)["state"] == "skipped", "order 501 state skipped")
        # The webhook and sync-worker binaries published their metrics as EMF lines.
        emf = emf_lines(os.path.join(tmp, "watch.out"))
        names = {m["Name"] for line in emf for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
        expect({"OrdersReceived", "OrdersSkipped"} <= names, f"EMF metrics from the functions ({sorted(names)})")
        expect(all(line["Tenant"] == "ACME" for line in emf), "every EMF line is dimensioned by tenant")
        skipped = [line for line in emf if "OrdersSkipped" in line]
        expect(skipped and skipped[0]["Reason"] == "not_trigger", "skipped orders carry their reason")

        # The API's reference, through the connect function as API Gateway routes it.
        ev = apigw("connect-store-status.json", API_KEY=TENANT_KEY)
        ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/openapi.json"
        ev["routeKey"] = "GET /openapi.json"
        r = invoke("connect", ev)
        doc = body(r) if r.get("statusCode") == 200 else {}
        expect(doc.get("openapi") == "3.1.0"
               and "/v1/webhooks/woocommerce/{storeId}" in doc.get("paths", {}),
               "GET /openapi.json → the OpenAPI 3.1 document, every function's routes")

        print("shipments", flush=True)
        # The tenant's routes through the connect function: order 501 was never delivered.
        ev = apigw("connect-store-status.json", API_KEY=TENANT_KEY)
        ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/v1/tenant/stores/st_a1/orders/501/shipments"
        ev["routeKey"] = "GET /v1/tenant/stores/{storeId}/orders/{orderId}/shipments"
        r = invoke("connect", ev)
        expect(r["statusCode"] == 200 and body(r) == {"shipments": []}, f"no shipments listed ({r})")
        ev["requestContext"]["http"]["method"] = "POST"
        ev["routeKey"] = "POST /v1/tenant/stores/{storeId}/orders/{orderId}/shipments"
        ev["headers"]["content-type"] = "application/json"
        ev["body"] = json.dumps({"shipmentId": "sh-1", "trackingNumber": "1Z999", "carrier": "UPS"})
        ev["headers"]["content-length"] = str(len(ev["body"]))
        r = invoke("connect", ev)
        expect(r["statusCode"] == 422 and body(r)["error"]["code"] == "order_not_in_scope",
               f"a shipment of an order never delivered → 422 ({r})")
        # The worker on SQS records: a job whose shipment is gone is done; junk is parked.
        ship = dict(records[0], messageId="ship-1",
                    body=json.dumps({"v": 1, "kind": "shipment", "storeId": "st_a1", "orderId": 501,
                                     "shipmentId": "gone", "op": "write"}),
                    eventSourceARN="arn:aws:sqs:us-east-1:123456789012:shipments")
        junk = dict(ship, messageId="ship-2", body="not a shipment job")
        r = invoke("shipment-worker", {"Records": [ship, junk]})
        expect(r == {"batchItemFailures": []}, f"shipment-worker: a gone shipment and junk are done ({r})")
        parked = sqs.receive_message(QueueUrl=ship_dlq, MaxNumberOfMessages=10).get("Messages", [])
        expect([m["Body"] for m in parked] == ["not a shipment job"], "junk parked in the shipments DLQ")

        # An inventory push through the connect function: this link holds no WooCommerce keys.
        ev = apigw("connect-store-status.json", API_KEY=TENANT_KEY)
        ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/v1/tenant/stores/st_a1/inventory"
        ev["requestContext"]["http"]["method"] = "PUT"
        ev["routeKey"] = "PUT /v1/tenant/stores/{storeId}/inventory"
        ev["headers"]["content-type"] = "application/json"
        ev["body"] = json.dumps({"snapshotAt": "2026-01-01T00:00:00Z",
                                 "items": [{"sku": f"SKU-{i}", "available": i} for i in range(3000)]})
        ev["headers"]["content-length"] = str(len(ev["body"]))
        r = invoke("connect", ev)
        expect(r["statusCode"] == 400 and "keys" in body(r)["error"]["message"],
               f"a 3,000-SKU push (past the 64 KB limit of other routes) to a keyless link → 400 naming the keys ({r.get('statusCode')})")

        print("catch-up", flush=True)
        # The backfill route through the connect function: this link holds no WooCommerce keys.
        ev = apigw("connect-store-status.json", API_KEY=api_key)
        ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/v1/stores/st_a1/backfill"
        ev["requestContext"]["http"]["method"] = "POST"
        ev["routeKey"] = "POST /v1/stores/{storeId}/backfill"
        ev["headers"]["content-type"] = "application/json"
        ev["body"] = json.dumps({"dryRun": True})
        ev["headers"]["content-length"] = str(len(ev["body"]))
        r = invoke("connect", ev)
        expect(r["statusCode"] == 400 and body(r)["error"]["code"] == "invalid_request",
               "backfill of a link without keys → 400")
        # The scheduler's invocation: no store holds keys, so no job.
        r = invoke("poll-fanout", {})
        expect(r == {"stores": 0}, f"poll fan-out → no store to poll ({r})")
        job = dict(records[0], messageId="job-1", body=json.dumps({"job": "poll", "storeId": "st_a1"}),
                   eventSourceARN="arn:aws:sqs:us-east-1:123456789012:catch-up")
        junk = dict(job, messageId="job-2", body="not a job")
        r = invoke("catch-up", {"Records": [job, junk]})
        expect(r == {"batchItemFailures": []}, f"catch-up: a poll of a keyless store and a non-job are done ({r})")

        print("disconnect", flush=True)
        ev = apigw("connect-resolve.json")
        ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/v1/connect/disconnect"
        ev["headers"]["authorization"] = f"Bearer {api_key}"
        ev["body"] = json.dumps({"storeUrl": "https://93.184.216.34/", "customerId": "cus_a1"})
        ev["headers"]["content-length"] = str(len(ev["body"]))
        r = invoke("disconnect", ev)
        expect(r["statusCode"] == 200 and body(r)["status"] == "disconnected", "disconnect → 200 disconnected")
        r = invoke("disconnect", ev)
        expect(r["statusCode"] == 200, "repeated disconnect → 200")
        ev["body"] = json.dumps({"storeUrl": "https://other.example", "customerId": "cus_a1"})
        r = invoke("disconnect", ev)
        expect(r["statusCode"] == 403, "mismatch → 403")
        ev = apigw("webhook-order-updated.json")
        # The webhook function is another process with its own link cache (1 s TTL here).
        deadline = time.time() + 1.5
        r = invoke("webhook", ev)
        while r["statusCode"] != 410 and time.time() < deadline:
            time.sleep(0.2)
            r = invoke("webhook", ev)
        expect(r["statusCode"] == 410, "webhook after disconnect → 410 within the link cache TTL")
        print(f"lambda runtime path: {checks} passed, 0 failed")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
