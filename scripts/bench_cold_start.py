"""Cold start and memory of each function binary, against a minimal Lambda Runtime API.

For each function: start the release binary 20+ times with AWS_LAMBDA_RUNTIME_API pointing at
a Runtime API served here, and time exec → its first GET /2018-06-01/runtime/invocation/next
(median and max); then start it once more and serve it 1,000 events, reading its peak RSS
(VmHWM) afterwards. The events need no AWS service (a malformed request, a ping, a poison SQS
record, an unauthenticated disconnect), so what is measured is the binary itself.

Usage: bench_cold_start.py BINARY_DIR [STARTS]
       bench_cold_start.py BINARY_DIR --secret-on MOTO_URL [STARTS]   (the key in Secrets Manager)
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "apigw")


def load(name):
    with open(os.path.join(FIX, name)) as f:
        return json.load(f)


def disconnect_event():
    ev = load("connect-resolve.json")
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/v1/connect/disconnect"
    ev["body"] = json.dumps({"storeUrl": "https://shop.example.com", "customerId": "cus_1"})
    return ev


SQS_POISON = {"Records": [{"messageId": "m1", "receiptHandle": "r1", "body": "{not an envelope",
                           "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                           "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
                           "awsRegion": "us-east-1"}]}

FUNCTIONS = {
    "connect": load("connect-resolve-malformed.json"),
    "webhook": load("webhook-ping.json"),
    "sync-worker": SQS_POISON,
    "disconnect": disconnect_event(),
    # A record that is not a job: dropped without a call to AWS. (poll-fanout is left out: every
    # invocation of it queries DynamoDB.)
    "catch-up": SQS_POISON,
    # Not a shipment job: parked in its DLQ (one SQS call, to a closed port here).
    "shipment-worker": SQS_POISON,
}


class RuntimeApi:
    """The part of the Lambda Runtime API a function uses: next, response, error."""

    def __init__(self):
        self.lock = threading.Condition()
        self.first_next = None
        self.first_response = None
        self.events = []
        self.responses = 0
        # Each start is a generation; requests of a killed process's generation give up.
        self.generation = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                now = time.perf_counter()
                with api.lock:
                    mine = api.generation
                    if api.first_next is None:
                        api.first_next = now
                        api.lock.notify_all()
                    while not api.events:
                        api.lock.wait(timeout=1)
                        if api.generation != mine:
                            return
                    event = api.events.pop()
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{time.monotonic_ns()}")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with api.lock:
                    if "/invocation/" in self.path:
                        api.responses += 1
                        if api.first_response is None:
                            api.first_response = time.perf_counter()
                        api.lock.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a killed function leaves broken connections behind; expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self, events):
        with self.lock:
            self.generation += 1
            self.lock.notify_all()
            self.first_next = None
            self.first_response = None
            self.events = list(events)
            self.responses = 0


def env_for(port, name):
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "WOOLINK_TABLE": "woolink",
        "WOOLINK_SECRETS_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "WOOLINK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
        "WOOLINK_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq",
        "WOOLINK_JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/catch-up",
        "WOOLINK_SHIPMENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/shipments",
        "WOOLINK_SHIPMENTS_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/shipments-dlq",
        "RUST_LOG": "error",
        # The worker parks an undecodable record in the DLQ: that one SQS call goes to a
        # closed loopback port and fails at once (one attempt), so the run measures the
        # function, not a network timeout.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
    }


def main(bin_dir, starts):
    api = RuntimeApi()
    print(f"cold start: exec → first /runtime/invocation/next, {starts} starts each; peak RSS over 1,000 events")
    print(f"{'function':<12} {'median ms':>10} {'max ms':>8} {'RSS MB':>8} {'binary MB':>10}")
    rows = {}
    for name, event in FUNCTIONS.items():
        binary = os.path.join(bin_dir, name)
        times = []
        for _ in range(starts):
            api.reset([])
            t0 = time.perf_counter()
            p = subprocess.Popen([binary], env=env_for(api.port, name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with api.lock:
                api.lock.wait_for(lambda: api.first_next is not None, timeout=10)
                first = api.first_next
            p.kill()
            p.wait()
            if first is None:
                raise SystemExit(f"{name} never asked for an event")
            times.append((first - t0) * 1000)
        api.reset([event] * 1000)
        p = subprocess.Popen([binary], env=env_for(api.port, name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with api.lock:
            api.lock.wait_for(lambda: api.responses >= 1000, timeout=120)
            served = api.responses
        with open(f"/proc/{p.pid}/status") as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
        p.kill()
        p.wait()
        if served < 1000:
            raise SystemExit(f"{name} served only {served} events")
        size = os.path.getsize(binary) / 1e6
        rows[name] = {"median_ms": statistics.median(times), "max_ms": max(times), "rss_mb": hwm / 1024, "binary_mb": size}
        r = rows[name]
        print(f"{name:<12} {r['median_ms']:>10.2f} {r['max_ms']:>8.2f} {r['rss_mb']:>8.1f} {r['binary_mb']:>10.1f}", flush=True)
    with open(os.path.join(ROOT, "target", "cold-start.json"), "w") as f:
        json.dump(rows, f, indent=2)


def with_secret(bin_dir, starts, moto):
    """Cold start in the deployed configuration: the application key in Secrets Manager (on the
    moto server at `moto`), WOOLINK_SECRETS_KEY_ARN instead of the key. For the webhook (which
    reads the key beside the runtime) and connect (which reads it before), time exec → first
    /next and exec → first response (a WooCommerce ping for the webhook, a malformed request
    for connect: neither needs the key)."""
    import boto3
    sm = boto3.client("secretsmanager", endpoint_url=moto, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")
    arn = sm.create_secret(Name=f"bench-key-{os.getpid()}",
                           SecretString="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")["ARN"]
    api = RuntimeApi()
    print(f"cold start with the key in Secrets Manager (moto at {moto}), {starts} starts each")
    print(f"{'function':<12} {'→ /next median':>15} {'max':>7} {'→ response median':>18} {'max':>7}")
    rows = {}
    for name in ["webhook", "connect"]:
        binary = os.path.join(bin_dir, name)
        nexts, answers = [], []
        for _ in range(starts):
            # Spare copies: a killed start's late request may take one.
            api.reset([FUNCTIONS[name]] * 3)
            env = env_for(api.port, name)
            del env["WOOLINK_SECRETS_KEY"]
            env.update({"WOOLINK_SECRETS_KEY_ARN": arn, "AWS_ENDPOINT_URL": moto, "AWS_MAX_ATTEMPTS": "3"})
            t0 = time.perf_counter()
            p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with api.lock:
                api.lock.wait_for(lambda: api.first_next is not None, timeout=10)
                first = api.first_next
                api.lock.wait_for(lambda: api.responses >= 1, timeout=10)
                answered = api.first_response
            p.kill()
            p.wait()
            if first is None or answered is None:
                raise SystemExit(f"{name} did not answer its first event")
            nexts.append((first - t0) * 1000)
            answers.append((answered - t0) * 1000)
        rows[name] = {"next_median_ms": statistics.median(nexts), "next_max_ms": max(nexts),
                      "response_median_ms": statistics.median(answers), "response_max_ms": max(answers)}
        r = rows[name]
        print(f"{name:<12} {r['next_median_ms']:>15.2f} {r['next_max_ms']:>7.2f} "
              f"{r['response_median_ms']:>18.2f} {r['response_max_ms']:>7.2f}", flush=True)
    with open(os.path.join(ROOT, "target", "cold-start-secret.json"), "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[2] == "--secret-on":
        with_secret(sys.argv[1], int(sys.argv[4]) if len(sys.argv) > 4 else 21, sys.argv[3])
    else:
        main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 21)
