"""Assertions on template.yaml (and its expansion) for the rules woolink's deployment relies on.

Usage: template_rules.py template.yaml target/template.expanded.json
Exits non-zero listing every broken rule.
"""
import json
import pathlib
import re
import sys

from samtranslator.yaml_helper import yaml_parse

FUNCTIONS = {
    "ConnectFunction": "connect",
    "WebhookFunction": "webhook",
    "SyncWorkerFunction": "sync-worker",
    "DisconnectFunction": "disconnect",
    "CatchUpFunction": "catch-up",
    "PollFanOutFunction": "poll-fanout",
    "ShipmentWorkerFunction": "shipment-worker",
}

# Which function serves each route, by the route's tag in the API reference (docs/openapi.json,
# generated from the routers): every route the code has must be deployed, by the right function,
# and the template may serve nothing the code does not have.
FUNCTION_OF_TAG = {
    "webhooks": "WebhookFunction",
    "disconnect": "DisconnectFunction",
}
REFERENCE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def routes_of_reference():
    doc = json.loads(REFERENCE.read_text())
    routes = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            tag = (op.get("tags") or ["connect"])[0]
            routes[(method.upper(), path)] = FUNCTION_OF_TAG.get(tag, "ConnectFunction")
    return routes

failures = []


def check(ok, rule):
    print(("  ok   " if ok else "  FAIL ") + rule)
    if not ok:
        failures.append(rule)


def actions_of(statement):
    a = statement.get("Action", [])
    return [a] if isinstance(a, str) else list(a)


def resources_of(statement):
    r = statement.get("Resource", [])
    return r if isinstance(r, list) else [r]


def main(sam_path, expanded_path):
    with open(sam_path) as f:
        sam = yaml_parse(f.read())
    with open(expanded_path) as f:
        cfn = json.load(f)
    res = sam["Resources"]
    glob = sam.get("Globals", {}).get("Function", {})

    queue = res["OrdersQueue"]["Properties"]
    dlq = res["OrdersDeadLetterQueue"]["Properties"]
    worker = res["SyncWorkerFunction"]["Properties"]
    check(queue["VisibilityTimeout"] >= 6 * worker["Timeout"],
          f"queue visibility {queue['VisibilityTimeout']} s >= 6 x worker timeout {worker['Timeout']} s")
    check(dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"],
          "DLQ retention is longer than the queue's")
    receives = queue["RedrivePolicy"]["maxReceiveCount"]
    check(receives >= 5, "maxReceiveCount >= 5")
    check(str(receives) == worker["Environment"]["Variables"].get("WOOLINK_MAX_RECEIVES"),
          f"the worker's WOOLINK_MAX_RECEIVES equals the queue's maxReceiveCount ({receives})")
    # The worker backs off 10 s, 20 s, 40 s … up to 15 min between receives: the messages
    # must outlive the whole schedule in the queue.
    schedule = sum(min(10 * 2 ** (i - 1), 900) for i in range(1, receives))
    check(schedule < queue["MessageRetentionPeriod"],
          f"queue retention outlives the retry schedule ({schedule} s over {receives} receives)")
    check(queue.get("SqsManagedSseEnabled") is True and dlq.get("SqsManagedSseEnabled") is True,
          "queues use SQS-managed encryption")
    check(queue.get("MaximumMessageSize") == 1048576, "orders queue carries 1 MiB messages")

    event = worker["Events"]["Orders"]
    props = event["Properties"]
    check(event["Type"] == "SQS", "the worker is fed by an SQS event source")
    check("ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
          "worker reports batch item failures")
    check("BatchSize" in props and "MaximumBatchingWindowInSeconds" in props,
          "worker has a batch size and batching window")
    check("MaximumConcurrency" in props.get("ScalingConfig", {}),
          "worker concurrency is bounded by ScalingConfig.MaximumConcurrency")
    check("ReservedConcurrentExecutions" not in worker, "no reserved concurrency on the worker")

    # The slow lane (issue 22): a queue like the orders queue, redriving to the same DLQ after
    # as many receives, named to the worker, consumed by the same function with its own,
    # smaller share of instances, and watched.
    lane = res.get("OrdersSlowLaneQueue", {}).get("Properties", {})
    for key in ["VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize", "SqsManagedSseEnabled"]:
        check(lane.get(key) == queue.get(key), f"the slow lane's {key} is the orders queue's")
    check(lane.get("RedrivePolicy") == {"deadLetterTargetArn": {"Fn::GetAtt": ["OrdersDeadLetterQueue", "Arn"]},
                                        "maxReceiveCount": receives},
          "the slow lane redrives to the orders DLQ after as many receives")
    check(worker["Environment"]["Variables"].get("WOOLINK_SLOW_LANE_URL") == {"Ref": "OrdersSlowLaneQueue"},
          "the worker knows its slow lane (WOOLINK_SLOW_LANE_URL)")
    slow = worker["Events"].get("SlowLane", {})
    sprops = slow.get("Properties", {})
    check(slow.get("Type") == "SQS" and sprops.get("Queue") == {"Fn::GetAtt": ["OrdersSlowLaneQueue", "Arn"]}
          and "ReportBatchItemFailures" in sprops.get("FunctionResponseTypes", [])
          and sprops.get("BatchSize") == props.get("BatchSize"),
          "the worker consumes the slow lane as it does the orders queue")
    check(sprops.get("ScalingConfig", {}).get("MaximumConcurrency") == {"Ref": "SlowLaneMaximumConcurrency"}
          and sam["Parameters"]["SlowLaneMaximumConcurrency"]["Default"]
          < sam["Parameters"]["WorkerMaximumConcurrency"]["Default"],
          "the slow lane's instances are a parameter, by default fewer than the main lane's")
    # The intake on a function URL (IntakeEndpoint function-url): public as WooCommerce needs
    # it, both permissions a public URL needs since October 2025 (the invoke one only through
    # the URL), and the functions that register webhooks told where.
    furl = res.get("WebhookFunctionUrl", {})
    check(furl.get("Condition") == "IntakeOnFunctionUrl"
          and furl.get("Properties", {}).get("AuthType") == "NONE"
          and furl.get("Properties", {}).get("TargetFunctionArn") == {"Fn::GetAtt": ["WebhookFunction", "Arn"]},
          "the webhook function's URL exists only with IntakeEndpoint function-url")
    perms = {name: r["Properties"] for name, r in res.items()
             if r.get("Type") == "AWS::Lambda::Permission" and r.get("Condition") == "IntakeOnFunctionUrl"}
    check(any(p.get("Action") == "lambda:InvokeFunctionUrl" and p.get("FunctionUrlAuthType") == "NONE" for p in perms.values())
          and any(p.get("Action") == "lambda:InvokeFunction" and p.get("InvokedViaFunctionUrl") is True for p in perms.values())
          and all(p.get("FunctionName") == {"Ref": "WebhookFunction"} for p in perms.values()),
          "the function URL's two permissions, the invoke one only through the URL")
    for name in ["ConnectFunction", "CatchUpFunction"]:
        env = res[name]["Properties"]["Environment"]["Variables"]
        check(env.get("WOOLINK_WEBHOOK_BASE_URL") == {"Fn::If": ["IntakeOnFunctionUrl",
                                                                  {"Fn::GetAtt": ["WebhookFunctionUrl", "FunctionUrl"]},
                                                                  {"Ref": "AWS::NoValue"}]},
              f"{name} registers webhooks at the function URL when it is the intake")
    check(sam["Parameters"]["IntakeEndpoint"]["Default"] == "api-gateway",
          "the intake stays behind API Gateway unless IntakeEndpoint says otherwise")
    lane_alarm = res.get("SlowLaneBacklogAlarm", {}).get("Properties", {})
    check(lane_alarm.get("Dimensions") == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["OrdersSlowLaneQueue", "QueueName"]}}]
          and lane_alarm.get("MetricName") == "ApproximateAgeOfOldestMessage",
          "an alarm watches the slow lane's oldest order")

    # Throttles and concurrency (a login flood must not starve the intake: WooCommerce never
    # retries a delivery).
    api = res["HttpApi"].get("Properties", {})
    default = api.get("DefaultRouteSettings", {})
    check("ThrottlingRateLimit" in default and "ThrottlingBurstLimit" in default,
          "every HTTP route has a default throttle")
    routes = api.get("RouteSettings", {})
    for route in ["POST /v1/connect/login", "POST /v1/connect/resolve",
                  "POST /connect/{tenantCode}/login", "POST /v1/connect/wc-auth/callback",
                  "POST /v1/webhooks/woocommerce/{storeId}"]:
        rs = routes.get(route, {})
        check("ThrottlingRateLimit" in rs and "ThrottlingBurstLimit" in rs,
              f"{route} has its own throttle")
    for login in ["POST /v1/connect/login", "POST /connect/{tenantCode}/login"]:
        check(routes.get(login, {}).get("ThrottlingRateLimit") == {"Ref": "LoginRateLimit"},
              f"{login}'s throttle is the login limit")
    for name in ["WebhookFunction", "ConnectFunction", "DisconnectFunction"]:
        rc = res[name]["Properties"].get("ReservedConcurrentExecutions")
        check(isinstance(rc, dict) and "Fn::If" in rc,
              f"{name} has reserved concurrency (a parameter; 0 leaves it unreserved)")

    # Least privilege in the table: every DynamoDB statement names the key prefixes it may
    # touch, and the writes of each function are the ones it needs.
    def table_statements(name):
        return [s for x in res[name]["Properties"].get("Policies", []) if isinstance(x, dict)
                for s in x.get("Statement", [])
                if any(a.startswith("dynamodb:") for a in actions_of(s))]

    def prefixes(statement):
        cond = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
        return cond.get("dynamodb:LeadingKeys")

    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
              "dynamodb:BatchWriteItem"}
    for name in FUNCTIONS:
        for st in table_statements(name):
            check(prefixes(st) is not None,
                  f"{name}: {actions_of(st)} is limited to key prefixes")
    def written(name):
        return sorted({p for st in table_statements(name) if writes & set(actions_of(st))
                       for p in (prefixes(st) or ["*"])})
    check(written("ConnectFunction") == ["APIKEY#*", "CONSENT#*", "SESSION#*", "STORE#*", "TENANT#*", "TENANTS", "THROTTLE#*", "TKEY#*"],
          f"connect writes only logins, sessions, links, API-key index, throttles, key use, consent attempts, a tenant's URL ({written('ConnectFunction')})")
    tenant_writes = [st for st in table_statements("ConnectFunction")
                     if "TENANTS" in (prefixes(st) or []) and writes & set(actions_of(st))]
    check(len(tenant_writes) == 1 and actions_of(tenant_writes[0]) == ["dynamodb:UpdateItem"]
          and prefixes(tenant_writes[0]) == ["TENANTS"]
          and tenant_writes[0].get("Condition", {}).get("ForAllValues:StringEquals", {})
          .get("dynamodb:Attributes") == ["pk", "sk", "fulfilmentUrl"],
          "connect may only move a tenant's fulfilment URL (never its secret)")
    key_writes = [st for st in table_statements("ConnectFunction") if prefixes(st) == ["TKEY#*"]]
    check(len(key_writes) == 1 and actions_of(key_writes[0]) == ["dynamodb:UpdateItem"]
          and key_writes[0].get("Condition", {}).get("ForAllValues:StringEquals", {})
          .get("dynamodb:Attributes") == ["pk", "sk", "lastUsedAt"],
          "connect may only record a tenant API key's last use")
    check(written("DisconnectFunction") == ["APIKEY#*", "STORE#*"],
          f"disconnect writes only a store's items and the API-key index ({written('DisconnectFunction')})")
    check(written("SyncWorkerFunction") == ["STORE#*"],
          f"the worker writes only under STORE# ({written('SyncWorkerFunction')})")
    check(written("WebhookFunction") == [], "the intake writes nothing in the table")
    intake_reads = sorted(p for st in table_statements("WebhookFunction") for p in (prefixes(st) or ["*"]))
    check(intake_reads == ["STORE#*", "TENANTS"],
          f"the intake reads only links and tenants ({intake_reads})")
    worker_puts = [st for st in table_statements("SyncWorkerFunction") if "dynamodb:PutItem" in actions_of(st)]
    attrs = [st.get("Condition", {}).get("ForAllValues:StringEquals", {}).get("dynamodb:Attributes")
             for st in worker_puts]
    check(bool(worker_puts) and all(a and "webhookSecret" not in a and "storeUrl" not in a
                                    and "tenant" not in a for a in attrs),
          "the worker's puts may name only order-record attributes (not a link's)")
    check(written("CatchUpFunction") == ["APIKEY#*", "STORE#*"],
          f"catch-up writes only a store's items and the API-key index ({written('CatchUpFunction')})")
    check(written("PollFanOutFunction") == [], "the poll fan-out writes nothing in the table")
    fanout = table_statements("PollFanOutFunction")
    check(len(fanout) == 1 and actions_of(fanout[0]) == ["dynamodb:Query"]
          and resources_of(fanout[0]) == [{"Fn::Sub": "${Table.Arn}/index/poll"}]
          and prefixes(fanout[0]) == ["POLL#*"],
          "the poll fan-out only queries the poll index")

    # Catch-up: its queue, its event source, its schedule.
    cq = res["CatchUpQueue"]["Properties"]
    cdlq = res["CatchUpDeadLetterQueue"]["Properties"]
    catchup = res["CatchUpFunction"]["Properties"]
    check(cq["VisibilityTimeout"] >= 6 * catchup["Timeout"],
          f"catch-up queue visibility {cq['VisibilityTimeout']} s >= 6 x catch-up timeout {catchup['Timeout']} s")
    check(cdlq["MessageRetentionPeriod"] > cq["MessageRetentionPeriod"],
          "catch-up DLQ retention is longer than the queue's")
    check(str(cq["RedrivePolicy"]["maxReceiveCount"])
          == catchup["Environment"]["Variables"].get("WOOLINK_MAX_RECEIVES"),
          "catch-up's WOOLINK_MAX_RECEIVES equals its queue's maxReceiveCount")
    check(cq.get("SqsManagedSseEnabled") is True and cdlq.get("SqsManagedSseEnabled") is True,
          "catch-up queues use SQS-managed encryption")
    jobs = catchup["Events"]["Jobs"]
    check(jobs["Type"] == "SQS" and jobs["Properties"]["Queue"] == {"Fn::GetAtt": ["CatchUpQueue", "Arn"]},
          "catch-up is fed by the catch-up queue")
    check(jobs["Properties"].get("BatchSize") == 1, "catch-up takes one job per call (each may take minutes)")
    check("ReportBatchItemFailures" in jobs["Properties"].get("FunctionResponseTypes", []),
          "catch-up reports batch item failures")
    check("MaximumConcurrency" in jobs["Properties"].get("ScalingConfig", {}),
          "catch-up concurrency is bounded")
    pages = int(catchup["Environment"]["Variables"].get("WOOLINK_CATCHUP_PAGES_PER_JOB", "0"))
    check(0 < pages <= catchup["Timeout"] / 10,
          f"a catch-up job's pages ({pages}) fit its timeout at 10 s a page")
    sched = res["PollFanOutFunction"]["Properties"]["Events"]["Schedule"]
    check(sched["Type"] == "ScheduleV2"
          and sched["Properties"]["ScheduleExpression"] == {"Fn::Sub": "rate(${PollMinutes} minutes)"},
          "the poll runs on EventBridge Scheduler every PollMinutes")
    check(sam["Parameters"]["PollMinutes"]["MinValue"] >= 2,
          "PollMinutes starts at 2 (rate(1 minutes) is not a valid expression)")
    gsis = {g["IndexName"]: g for g in res["Table"]["Properties"].get("GlobalSecondaryIndexes", [])}
    poll_index = gsis.get("poll", {})
    check([k["AttributeName"] for k in poll_index.get("KeySchema", [])] == ["pollShard", "pollKey"]
          and poll_index.get("Projection", {}).get("ProjectionType") == "KEYS_ONLY",
          "the table has the sparse poll index (pollShard, pollKey; keys only)")
    def sends_to(name):
        return sorted(json.dumps(r, sort_keys=True)
                      for x in res[name]["Properties"].get("Policies", []) if isinstance(x, dict)
                      for st in x.get("Statement", []) if "sqs:SendMessage" in actions_of(st)
                      for r in resources_of(st))
    check(sends_to("ConnectFunction") == sorted([json.dumps({"Fn::GetAtt": ["CatchUpQueue", "Arn"]}),
                                                 json.dumps({"Fn::GetAtt": ["ShipmentsQueue", "Arn"]}),
                                                 json.dumps({"Fn::GetAtt": ["OrdersQueue", "Arn"]})]),
          "connect sends only to the catch-up, shipments and orders (resends) queues")
    check(sends_to("SyncWorkerFunction") == sorted([json.dumps({"Fn::GetAtt": ["OrdersQueue", "Arn"]}),
                                                    json.dumps({"Fn::GetAtt": ["OrdersSlowLaneQueue", "Arn"]}),
                                                    json.dumps({"Fn::GetAtt": ["OrdersDeadLetterQueue", "Arn"]})]),
          "the worker sends only to its queue (a paused store's orders), the slow lane and its DLQ")

    # Shipments: their queue, their worker, its rights.
    sq = res["ShipmentsQueue"]["Properties"]
    sdlq = res["ShipmentsDeadLetterQueue"]["Properties"]
    sw = res["ShipmentWorkerFunction"]["Properties"]
    check(sq["VisibilityTimeout"] >= 6 * sw["Timeout"],
          f"shipments queue visibility {sq['VisibilityTimeout']} s >= 6 x worker timeout {sw['Timeout']} s")
    check(sw["Timeout"] < 120, "the shipment worker's timeout is under a shipment claim (120 s)")
    check(sdlq["MessageRetentionPeriod"] > sq["MessageRetentionPeriod"],
          "shipments DLQ retention is longer than the queue's")
    check(str(sq["RedrivePolicy"]["maxReceiveCount"])
          == sw["Environment"]["Variables"].get("WOOLINK_MAX_RECEIVES"),
          "the shipment worker's WOOLINK_MAX_RECEIVES equals its queue's maxReceiveCount")
    check(sq.get("SqsManagedSseEnabled") is True and sdlq.get("SqsManagedSseEnabled") is True,
          "shipments queues use SQS-managed encryption")
    ev = sw["Events"]["Shipments"]
    check(ev["Type"] == "SQS" and ev["Properties"]["Queue"] == {"Fn::GetAtt": ["ShipmentsQueue", "Arn"]}
          and "ReportBatchItemFailures" in ev["Properties"].get("FunctionResponseTypes", [])
          and "MaximumConcurrency" in ev["Properties"].get("ScalingConfig", {}),
          "the shipment worker is fed by its queue, reports item failures, bounded")
    check(written("ShipmentWorkerFunction") == ["STORE#*"],
          f"the shipment worker writes only under STORE# ({written('ShipmentWorkerFunction')})")
    sw_puts = [st for st in table_statements("ShipmentWorkerFunction") if "dynamodb:PutItem" in actions_of(st)]
    sw_attrs = [st.get("Condition", {}).get("ForAllValues:StringEquals", {}).get("dynamodb:Attributes")
                for st in sw_puts]
    check(bool(sw_puts) and all(a and "webhookSecret" not in a and "wooKeys" not in a
                                and "storeUrl" not in a and "contentHash" not in a for a in sw_attrs),
          "the shipment worker's puts may name only shipment-record attributes")
    check(sends_to("ShipmentWorkerFunction") == [json.dumps({"Fn::GetAtt": ["ShipmentsDeadLetterQueue", "Arn"]})],
          "the shipment worker sends only to its dead-letter queue")
    check("ShipmentDeadLettersAlarm" in res and "ShipmentsBacklogAlarm" in res,
          "alarms on shipment dead letters and a shipments backlog")
    check(sends_to("PollFanOutFunction") == [json.dumps({"Fn::GetAtt": ["CatchUpQueue", "Arn"]})],
          "the fan-out sends only to the catch-up queue")
    check("CatchUpDeadLettersAlarm" in res and "CatchUpErrorsAlarm" in res,
          "alarms on catch-up dead letters and catch-up errors")

    check(res["AppKey"].get("DeletionPolicy") == "Retain"
          and res["AppKey"].get("UpdateReplacePolicy") == "Retain",
          "the application key is retained like the table it opens")

    for name, binary in FUNCTIONS.items():
        fn = res[name]
        p = fn["Properties"]
        arch = p.get("Architectures", glob.get("Architectures"))
        check(arch == [{"Ref": "Architecture"}], f"{name} architecture comes from the parameter")
        check(p.get("Runtime", glob.get("Runtime")) == "provided.al2023", f"{name} runs on provided.al2023")
        check(p.get("Handler", glob.get("Handler")) == "bootstrap", f"{name} handler is bootstrap")
        meta = fn.get("Metadata", {})
        check(meta.get("BuildMethod") == "rust-cargolambda"
              and meta.get("BuildProperties", {}).get("Binary") == binary,
              f"{name} builds binary {binary} with cargo-lambda")
        group = p.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        check(group in res and "RetentionInDays" in res[group]["Properties"],
              f"{name} logs to a log group with retention")
        check("MemorySize" in p and "Timeout" in p, f"{name} has memory and timeout set")

    check(not any(isinstance(x, dict) and "DynamoDBCrudPolicy" in x
                  for x in res["WebhookFunction"]["Properties"].get("Policies", [])),
          "no DynamoDBCrudPolicy on the intake")

    webhook_statements = [s for x in res["WebhookFunction"]["Properties"]["Policies"]
                          if isinstance(x, dict) for s in x.get("Statement", [])]
    webhook_actions = sorted(a for s in webhook_statements for a in actions_of(s))
    check(webhook_actions == ["dynamodb:GetItem", "secretsmanager:GetSecretValue", "sqs:SendMessage"],
          f"intake may only read links, send to the queue and read its key (has {webhook_actions})")

    # No "*" action on a "*" resource anywhere after expansion.
    wildcard = []
    for lid, r in cfn["Resources"].items():
        if r["Type"] != "AWS::IAM::Role":
            continue
        for pol in r["Properties"].get("Policies", []):
            for s in pol["PolicyDocument"]["Statement"]:
                if any(a == "*" or a.endswith(":*") for a in actions_of(s)) and "*" in resources_of(s):
                    wildcard.append(lid)
    check(not wildcard, f"no wildcard actions on wildcard resources ({wildcard})")

    table = res["Table"]["Properties"]
    # On demand unless TableCapacity says provisioned; then every index has capacity too, and
    # the table and its orderState index scale (writes and reads) between the parameters.
    check(table["BillingMode"] == {"Fn::If": ["ProvisionedTable", "PROVISIONED", "PAY_PER_REQUEST"]}
          and sam["Parameters"]["TableCapacity"]["Default"] == "on-demand",
          "table is on-demand unless TableCapacity is provisioned")
    check(all("Fn::If" in g.get("ProvisionedThroughput", {}) for g in table.get("GlobalSecondaryIndexes", []))
          and "Fn::If" in table.get("ProvisionedThroughput", {}),
          "with TableCapacity provisioned, the table and every index have capacity")
    scaled = sorted((r["Properties"]["ResourceId"].get("Fn::Sub", ""), r["Properties"]["ScalableDimension"])
                    for r in res.values()
                    if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
                    and r.get("Condition") == "ProvisionedTable")
    check(scaled == [("table/${Table}", "dynamodb:table:ReadCapacityUnits"),
                     ("table/${Table}", "dynamodb:table:WriteCapacityUnits"),
                     ("table/${Table}/index/orderState", "dynamodb:index:ReadCapacityUnits"),
                     ("table/${Table}/index/orderState", "dynamodb:index:WriteCapacityUnits")],
          f"with TableCapacity provisioned, the table and orderState scale ({scaled})")
    policies = [r for r in res.values() if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"]
    check(len(policies) == 4 and all(p.get("Condition") == "ProvisionedTable"
                                     and p["Properties"]["PolicyType"] == "TargetTrackingScaling"
                                     for p in policies),
          "each scalable target has a target-tracking policy, only with TableCapacity provisioned")
    check(table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}, "table TTL on `ttl`")
    check("Fn::If" in table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
          and "Fn::If" in table["DeletionProtectionEnabled"],
          "PITR and deletion protection follow the ProtectData parameter")

    # The tenant's order lists read an index (never a scan): a sparse one keyed under the
    # store's own prefix, readable by the connect function only.
    indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    order_state = indexes.get("orderState", {})
    check([k["AttributeName"] for k in order_state.get("KeySchema", [])] == ["stateKey", "stateAt"]
          and order_state.get("Projection") == {"ProjectionType": "KEYS_ONLY"},
          "index orderState (stateKey, stateAt), keys only")
    index_readers = [name for name in FUNCTIONS for s in table_statements(name)
                     if any("index/orderState" in json.dumps(r) for r in resources_of(s))]
    check(index_readers == ["ConnectFunction"], f"only connect reads orderState ({index_readers})")
    retention = sam["Parameters"].get("OrderRetentionDays", {})
    check(retention.get("Default") == 90
          and glob["Environment"]["Variables"].get("WOOLINK_ORDER_RETENTION_DAYS") == {"Ref": "OrderRetentionDays"},
          "order history retention is a parameter (90 days) every function reads")
    # The worker updates only counter and bucket attributes (the list a unit test keeps equal
    # to the adapter's update expressions).
    updates = [s for s in table_statements("SyncWorkerFunction") if "dynamodb:UpdateItem" in actions_of(s)]
    check(len(updates) == 1 and "dynamodb:Attributes" in json.dumps(updates[0].get("Condition", {}))
          and "STORE#*" in json.dumps(updates[0].get("Condition", {})),
          "the worker's UpdateItem is limited to STORE# items and named attributes")

    # Tenant operations: every function publishes EMF metrics; failures and slow deliveries
    # alarm on the stack-wide series; the dashboard is valid JSON over the same namespace.
    check(glob["Environment"]["Variables"].get("WOOLINK_METRICS") == "emf",
          "every function publishes EMF metrics (WOOLINK_METRICS=emf)")
    failed_alarm = res.get("DeliveryFailuresAlarm", {}).get("Properties", {})
    check(failed_alarm.get("Namespace") == "woolink" and failed_alarm.get("MetricName") == "OrdersFailed"
          and "Dimensions" not in failed_alarm and failed_alarm.get("Threshold") == 0,
          "an alarm on any failed delivery (stack-wide OrdersFailed)")
    lag = res.get("DeliveryLagAlarm", {}).get("Properties", {})
    check(lag.get("MetricName") == "DeliveryLag" and lag.get("ExtendedStatistic") == "p99"
          and lag.get("Threshold") == 300000,
          "an alarm on delivery lag p99 above 5 minutes")
    for alarm in ["DeliveryFailuresAlarm", "DeliveryLagAlarm"]:
        check("AlarmActions" in res.get(alarm, {}).get("Properties", {}), f"{alarm} notifies the alarm topic")
    dash = res.get("OperationsDashboard", {}).get("Properties", {}).get("DashboardBody", {})
    body = dash.get("Fn::Sub") if isinstance(dash, dict) else dash
    try:
        widgets = json.loads(body.replace("${AWS::Region}", "us-east-1"))["widgets"]
    except (ValueError, AttributeError, KeyError):
        widgets = []
    check(len(widgets) >= 4 and all("woolink" in json.dumps(w) for w in widgets),
          "the operations dashboard is valid JSON over the woolink metrics")
    check(not re.search(r"\{woolink,[^}]*Store", json.dumps(widgets)),
          "no metric dimensioned by store")

    found = {}
    for name in FUNCTIONS:
        for e in res[name]["Properties"].get("Events", {}).values():
            if e["Type"] == "HttpApi":
                found[(e["Properties"]["Method"], e["Properties"]["Path"])] = name
    routes = routes_of_reference()
    check(len(routes) >= 34, f"the API reference lists every route ({len(routes)})")
    for route, fn in sorted(routes.items()):
        check(found.get(route) == fn, f"{route[0]} {route[1]} is served by {fn}")
    extra = sorted(set(found) - set(routes))
    check(not extra, f"the template serves no route the code lacks {extra or ''}")
    # The consent callback links within 25 s (consent::LINK_DEADLINE); API Gateway ends an
    # integration at 30 s, and WooCommerce deletes the keys on anything but a 200.
    connect_timeout = res["ConnectFunction"]["Properties"]["Timeout"]
    check(25 < connect_timeout <= 29,
          f"the connect function's timeout ({connect_timeout} s) outlasts the consent link deadline "
          "and ends before API Gateway's")

    check(res["AppKey"]["Type"] == "AWS::SecretsManager::Secret"
          and "GenerateSecretString" in res["AppKey"]["Properties"],
          "the application key is generated in Secrets Manager at deploy")
    check(glob["Environment"]["Variables"].get("WOOLINK_SECRETS_KEY_ARN") == {"Ref": "AppKey"},
          "functions read the key by ARN (not as a plain environment value)")
    check("DeadLettersAlarm" in res and "WorkerErrorsAlarm" in res, "alarms on dead letters and worker errors")
    outputs = sam.get("Outputs", {})
    for o in ["ApiUrl", "TableName", "OrdersQueueUrl", "OrdersDeadLetterQueueUrl", "OrdersSlowLaneUrl",
              "CatchUpQueueUrl", "CatchUpDeadLetterQueueUrl"]:
        check(o in outputs, f"output {o}")

    operations_rules(sam, res, glob, cfn, sam_path)

    if failures:
        print(f"{len(failures)} template rule(s) broken")
        sys.exit(1)
    print("template rules: all hold")


def operations_rules(sam, res, glob, cfn, sam_path):
    """What an operator relies on once it runs: logs, tracing, alarms that fire when it matters,
    a domain chosen before the first link, a first deploy that does not stop to ask."""
    params = sam["Parameters"]
    # Every parameter explained, in the template and in the README's Deploy section.
    readme = (pathlib.Path(sam_path).resolve().parent / "README.md").read_text()
    deploy = readme[readme.find("## Deploy"):]
    for name, p in params.items():
        check(bool(p.get("Description")), f"parameter {name} has a description")
        check(f"`{name}`" in deploy, f"parameter {name} is documented in README.md's Deploy section")

    # API access logs: JSON with API Gateway's request id, kept as long as the functions' logs.
    api = res["HttpApi"]["Properties"]
    logs = api.get("AccessLogSettings", {})
    try:
        fmt = json.loads(logs.get("Format", ""))
    except ValueError:
        fmt = {}
    check(logs.get("DestinationArn") == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
          and fmt.get("requestId") == "$context.requestId" and "status" in fmt and "routeKey" in fmt,
          "API access logs: one JSON line per request with its request id, route and status")
    check(res.get("ApiAccessLogs", {}).get("Properties", {}).get("RetentionInDays") == {"Ref": "LogRetentionDays"},
          "the access log group keeps LogRetentionDays")
    # The functions: JSON log format, level and tracing from parameters.
    check(glob.get("LoggingConfig", {}).get("LogFormat") == "JSON", "functions log in Lambda's JSON format")
    check(glob["Environment"]["Variables"].get("RUST_LOG") == {"Ref": "LogLevel"}, "log level from LogLevel")
    check(glob.get("Tracing") == {"Ref": "Tracing"} and params["Tracing"]["Default"] == "Active",
          "X-Ray tracing on every function (Active by default)")
    # No authorizer at API Gateway, declared: the routes authorise their callers themselves,
    # and `sam deploy --guided` (its own check, run here) finds no function "without authentication".
    check(api.get("Auth") == {"EnableIamAuthorizer": False}, "the API declares it has no authorizer")
    expanded_api = cfn["Resources"]["HttpApi"]["Properties"]["Body"]
    secured = [p for p, item in expanded_api["paths"].items() for op in item.values()
               if isinstance(op, dict) and op.get("security")]
    check(not secured, f"no route has an API Gateway authorizer ({secured})")
    try:
        from samcli.commands.deploy.auth_utils import auth_per_resource
        from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
        stacks, _ = SamLocalStackProvider.get_stacks(sam_path)
        unauthenticated = sorted({name for name, ok in auth_per_resource(stacks) if not ok})
    except Exception as e:  # noqa: BLE001 - the rule fails, saying why
        unauthenticated = [f"check failed: {e}"]
    check(not unauthenticated, f"sam deploy --guided asks about no function ({unauthenticated})")
    # CORS for browsers, never with credentials (bearer headers only).
    cors = api.get("CorsConfiguration", {})
    cors_on = cors.get("Fn::If", [None, {}])[1] if isinstance(cors, dict) else {}
    check(cors.get("Fn::If", [None])[0] == "HasCors" and "AllowCredentials" not in cors_on
          and "authorization" in cors_on.get("AllowHeaders", []),
          "CORS (CorsAllowOrigins) lets browsers send the bearer header, never credentials")
    # A custom domain from day one: the domain, its mapping and the delivery URLs follow it.
    check(all(res.get(r, {}).get("Condition") in ("HasDomain", "HasDomainRecord")
              for r in ["ApiDomain", "ApiDomainMapping", "ApiDomainRecord"]),
          "custom domain resources exist only with DomainName")
    check(glob["Environment"]["Variables"].get("WOOLINK_PUBLIC_URL", {}).get("Fn::If", [None])[0] == "HasDomain",
          "with a domain, delivery URLs name it (WOOLINK_PUBLIC_URL)")
    check("Fn::If" in json.dumps(sam["Outputs"]["ApiUrl"]["Value"]), "ApiUrl names the domain when there is one")
    # Alarms that fire when it matters.
    def alarm(name):
        return res.get(name, {}).get("Properties", {})
    backlog = alarm("OrdersBacklogAlarm")
    check(backlog.get("MetricName") == "ApproximateAgeOfOldestMessage"
          and backlog.get("Dimensions") == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["OrdersQueue", "QueueName"]}}]
          and backlog.get("Threshold", 10**9) <= 900,
          "an alarm when the oldest order waits over 15 min (a tenant outage), long before it is parked")
    api5xx = alarm("ApiServerErrorsAlarm")
    check(api5xx.get("Namespace") == "AWS/ApiGateway" and api5xx.get("MetricName") == "5xx"
          and api5xx.get("Dimensions") == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]
          and api5xx.get("Threshold") == 0, "an alarm on any 5xx the API answers")
    for name, metric in [("WebhookErrorsAlarm", "Errors"), ("WebhookThrottlesAlarm", "Throttles")]:
        a = alarm(name)
        check(a.get("Namespace") == "AWS/Lambda" and a.get("MetricName") == metric
              and a.get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": "WebhookFunction"}}],
              f"an alarm on the webhook function's {metric.lower()}")
    hook_env = res["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    check(hook_env.get("WOOLINK_STORE_INTAKE_RATE") == {"Ref": "StoreIntakeRate"},
          "the intake limits each store's deliveries (StoreIntakeRate)")
    topic = res.get("AlarmEmailTopic", {})
    check(topic.get("Condition") == "HasAlarmEmail"
          and topic.get("Properties", {}).get("Subscription") == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}],
          "alarms by email (AlarmEmail), optional")
    alarms = [n for n, r in res.items() if r["Type"] == "AWS::CloudWatch::Alarm"]
    want = [{"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AWS::NoValue"}]},
            {"Fn::If": ["HasAlarmEmail", {"Ref": "AlarmEmailTopic"}, {"Ref": "AWS::NoValue"}]}]
    check(len(alarms) >= 12 and all(alarm(n).get("AlarmActions") == want for n in alarms),
          f"every alarm ({len(alarms)}) notifies the topic and the email when given")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
