"""woolink's capacity model: writes CAPACITY.md from the parameters below and template.yaml.

For a Black-Friday peak and for that whole day: requests per second, Lambda concurrency by
function, SQS throughput, DynamoDB write and read units by key with the hottest store's share,
the template's throttles and limits against what the peak needs, the quotas to raise before the
day, and the cost. Per-delivery figures are the measured ones (BENCHMARKS.md sections 2-4); the
template's settings are read from template.yaml, so the model and the deployment cannot differ.

Usage: capacity.py           print the model
       capacity.py --write   write CAPACITY.md
       capacity.py --check   fail when CAPACITY.md is not what the model says (CI)
"""
import math
import pathlib
import sys

from samtranslator.yaml_helper import yaml_parse

ROOT = pathlib.Path(__file__).resolve().parent.parent

# --- The day (assumptions; change them and re-run) -----------------------------------------
PEAK_ORDERS_PER_S = 2000          # orders reaching a trigger status per second at the peak
STORES = 50_000
TENANTS = 3
TOP_STORE_SHARE = 0.05            # the biggest store's share of all orders
DELIVERIES_PER_ORDER = 1.5        # order.created, plus the updates an order gets that day
OTHER_WEBHOOKS_PER_ORDER = 1.0    # deliveries woolink ignores (status changes out of scope)
DAY_ORDERS = 40_000_000           # orders that day (the peak lasts about an hour)

# --- Measured per delivery (BENCHMARKS.md) --------------------------------------------------
WEBHOOK_MS = 15                   # webhook function duration, warm (verify, one SendMessage)
WORKER_MS_PER_BATCH = 200         # a worker invocation: a batch of 10 delivered at once to a
WORKER_BATCH = 10                 # tenant answering in ~150 ms
SQS_REQUESTS_PER_DELIVERY = 1.20  # send, receive/10, delete batch/10 (section 4)
WCU_PER_DELIVERY = 4.25           # section 4: 4 (new orders) to 4.5 (half updates)
RCU_PER_DELIVERY = 0.52
# The orderState index (issue 20). Index writes are billed as table writes; moto does not
# bill, so section 4 does not count them. Until issue 22 a delivery's claim inserted or moved
# the order's entry (…#queued) and its outcome moved it again (…#synced): 3 units.
INDEX_WCU_BEFORE = 3
ITEM_KB = 1.0                     # order record, < 1 KB for a new order
# Of WCU_PER_DELIVERY, the store's counters and lag bucket (issue 20's status figures): 2 per
# new order's delivery, 1.5 per delivery of created + updated (section 4).
STATS_WCU_PER_DELIVERY = 1.75

# --- List prices, us-east-1 (BENCHMARKS.md section 4) ---------------------------------------
PRICE = {
    "api": 1.00 / 1e6,            # HTTP API request
    "lambda_req": 0.20 / 1e6,
    "lambda_gbs": 0.0000133334,   # arm64
    "sqs": 0.40 / 1e6,
    "wru": 0.625 / 1e6,
    "rru": 0.125 / 1e6,
}
# Provisioned capacity (the table's alternative to on demand): per unit-hour, and the share of
# what is provisioned that a day's traffic uses (auto scaling aims at 70 %; a day with one peak
# averages lower).
PROVISIONED = {"wcu_hour": 0.00065, "rcu_hour": 0.00013, "utilisation": 0.5}
# Reserved capacity (a one-year purchase for provisioned tables), per 100 units: upfront and
# hourly. A purchase, not a build: priced beside the levers, not among them.
RESERVED = {"wcu_upfront": 150.0, "wcu_hourly": 0.0128, "rcu_upfront": 30.0, "rcu_hourly": 0.0025}
# The orderState index written once per delivery, at the outcome (a first attempt in flight
# listed as what the order was before, as the counters count it): a new order's entry
# inserted once; an update's moved once (a delete and an insert).
INDEX_WCU_ONCE = (1 + (DELIVERIES_PER_ORDER - 1) * 2) / DELIVERIES_PER_ORDER
INDEX_WCU_PER_DELIVERY = INDEX_WCU_ONCE
WEBHOOK_GB = 0.25
WORKER_GB = 0.25

# --- Service limits (AWS defaults at the time of writing; check the account's) ---------------
LIMITS = {
    "api_account_rps": 10_000,    # API Gateway account throttle, per region
    "lambda_concurrency": 1_000,  # Lambda concurrent executions, per region
    "partition_wcu": 1_000,       # DynamoDB per-partition write throughput
    "partition_rcu": 3_000,
}


def template_defaults():
    sam = yaml_parse((ROOT / "template.yaml").read_text())
    return {k: v.get("Default") for k, v in sam["Parameters"].items()}


def model():
    t = template_defaults()
    webhook_rps = PEAK_ORDERS_PER_S * (DELIVERIES_PER_ORDER + OTHER_WEBHOOKS_PER_ORDER)
    delivery_rps = PEAK_ORDERS_PER_S * DELIVERIES_PER_ORDER
    top_store_rps = webhook_rps * TOP_STORE_SHARE
    top_store_deliveries = delivery_rps * TOP_STORE_SHARE

    webhook_conc = math.ceil(webhook_rps * WEBHOOK_MS / 1000)
    worker_conc = math.ceil(delivery_rps / WORKER_BATCH * WORKER_MS_PER_BATCH / 1000)
    worker_max = int(t["WorkerMaximumConcurrency"])
    worker_capacity = worker_max * WORKER_BATCH * 1000 / WORKER_MS_PER_BATCH
    sqs_rps = delivery_rps * SQS_REQUESTS_PER_DELIVERY
    wcu = delivery_rps * (WCU_PER_DELIVERY + INDEX_WCU_PER_DELIVERY)
    index_wcu = delivery_rps * INDEX_WCU_PER_DELIVERY
    top_index_wcu = top_store_deliveries * INDEX_WCU_PER_DELIVERY  # STORE#<id>#synced
    rcu = delivery_rps * RCU_PER_DELIVERY
    top_wcu = top_store_deliveries * WCU_PER_DELIVERY
    top_rcu = top_store_deliveries * RCU_PER_DELIVERY

    day_deliveries = DAY_ORDERS * DELIVERIES_PER_ORDER
    day_webhooks = DAY_ORDERS * (DELIVERIES_PER_ORDER + OTHER_WEBHOOKS_PER_ORDER)
    cost = {
        "API Gateway": day_webhooks * PRICE["api"],
        "Lambda": (day_webhooks + day_deliveries / WORKER_BATCH) * PRICE["lambda_req"]
        + (day_webhooks * WEBHOOK_MS / 1000 * WEBHOOK_GB
           + day_deliveries / WORKER_BATCH * WORKER_MS_PER_BATCH / 1000 * WORKER_GB) * PRICE["lambda_gbs"],
        "SQS": day_deliveries * SQS_REQUESTS_PER_DELIVERY * PRICE["sqs"],
        "DynamoDB writes (table)": day_deliveries * WCU_PER_DELIVERY * PRICE["wru"],
        "DynamoDB writes (orderState index)": day_deliveries * INDEX_WCU_PER_DELIVERY * PRICE["wru"],
        "DynamoDB reads": day_deliveries * RCU_PER_DELIVERY * PRICE["rru"],
    }
    per_million = {k: v / day_deliveries * 1e6 for k, v in cost.items()}

    rows = {
        "webhook_rps": webhook_rps, "delivery_rps": delivery_rps, "top_store_rps": top_store_rps,
        "webhook_conc": webhook_conc, "worker_conc": worker_conc, "worker_max": worker_max,
        "worker_capacity": worker_capacity, "sqs_rps": sqs_rps, "wcu": wcu, "rcu": rcu,
        "index_wcu": index_wcu,
        "top_wcu": top_wcu, "top_rcu": top_rcu, "top_index_wcu": top_index_wcu, "cost": cost, "per_million": per_million,
        "day_deliveries": day_deliveries, "t": t,
    }
    return rows


def options(m):
    """The cost levers, each on top of the ones before: (what, built, $ per million)."""
    per_m = 1e6 / m["day_deliveries"]
    base = {k: v * per_m for k, v in m["cost"].items()}
    index_before = INDEX_WCU_BEFORE * PRICE["wru"] * 1e6
    rows = [(f"until issue 22: the orderState index entry written at a delivery's claim and again "
             f"at its outcome ({INDEX_WCU_BEFORE} WCU)", "replaced",
             sum(base.values()) - base["DynamoDB writes (orderState index)"] + index_before),
            (f"as deployed: API Gateway, tables on demand, the index entry moved once per delivery, "
             f"at the outcome ({INDEX_WCU_ONCE:.2f} WCU; a first attempt in flight stays listed as "
             f"what the order was, as the counters count it)", "yes", sum(base.values()))]
    c = dict(base)
    c["API Gateway"] = 0.0
    rows.append(("+ the intake on the webhook function's Lambda function URL (no per-request charge; "
                 "what API Gateway's route throttle did is done by StoreIntakeRate and the function's "
                 "reserved concurrency)",
                 "yes: `IntakeEndpoint: function-url`", sum(c.values())))
    wcu_price = PROVISIONED["wcu_hour"] / 3600 / PROVISIONED["utilisation"]
    rcu_price = PROVISIONED["rcu_hour"] / 3600 / PROVISIONED["utilisation"]
    c["DynamoDB writes (table)"] = WCU_PER_DELIVERY * wcu_price * 1e6
    c["DynamoDB writes (orderState index)"] = INDEX_WCU_ONCE * wcu_price * 1e6
    c["DynamoDB reads"] = RCU_PER_DELIVERY * rcu_price * 1e6
    rows.append((f"+ provisioned table capacity with auto scaling, {PROVISIONED['utilisation']:.0%} "
                 f"used over the day (${wcu_price * 1e6:.2f} per million writes instead of "
                 f"${PRICE['wru'] * 1e6:.3f})", "yes: `TableCapacity: provisioned`, the minimums "
                 "set to the peak's needs for the day", sum(c.values())))
    levers = dict(c)
    # What reaching $2 would take beyond that: features given up, priced, not built.
    c = dict(c)
    c["DynamoDB writes (table)"] = (WCU_PER_DELIVERY - STATS_WCU_PER_DELIVERY) * wcu_price * 1e6
    rows.append((f"+ no per-delivery status figures: the store's counters and lag buckets "
                 f"({STATS_WCU_PER_DELIVERY} WCU) not written", "no: gives up the store's status "
                 "page figures (issue 20)", sum(c.values())))
    c["DynamoDB writes (orderState index)"] = 0.0
    rows.append(("+ no orderState index", "no: gives up the order lists by state (issue 20)",
                 sum(c.values())))
    return rows, levers


def reserved(levers):
    """The provisioned day with its capacity reserved: ($ per million deliveries at the same
    use, the use of the reserved units that $2 needs)."""
    hours = 24 * 365
    unit = {k: (RESERVED[f"{k}_upfront"] / hours + RESERVED[f"{k}_hourly"]) / 100 / 3600 * 1e6
            for k in ("wcu", "rcu")}
    ddb_full = ((WCU_PER_DELIVERY + INDEX_WCU_ONCE) * unit["wcu"] + RCU_PER_DELIVERY * unit["rcu"])
    rest = sum(v for k, v in levers.items() if not k.startswith("DynamoDB"))
    total = rest + ddb_full / PROVISIONED["utilisation"]
    return total, ddb_full / (2.0 - rest)


def checks(m):
    t = m["t"]
    rate = int(t["WebhookRateLimit"])
    reserved = int(t["WebhookReservedConcurrency"])
    out = [
        ("webhook route throttle (WebhookRateLimit)", f"{rate:,}/s",
         f"{m['webhook_rps']:,.0f}/s", rate >= m["webhook_rps"],
         f"raise WebhookRateLimit to {math.ceil(m['webhook_rps'] * 1.5 / 100) * 100:,}"),
        ("webhook reserved concurrency", f"{reserved}", f"{m['webhook_conc']}",
         reserved >= m["webhook_conc"], f"raise WebhookReservedConcurrency to {m['webhook_conc'] * 2}"),
        ("worker instances (WorkerMaximumConcurrency)", f"{m['worker_max']} ({m['worker_capacity']:,.0f} deliveries/s)",
         f"{m['worker_conc']} ({m['delivery_rps']:,.0f} deliveries/s)", m["worker_max"] >= m["worker_conc"],
         f"raise WorkerMaximumConcurrency to {math.ceil(m['worker_conc'] * 1.5)}"),
        ("biggest store per webhook instance (StoreIntakeRate)",
         "{}/s, bursts of {}".format(*str(t['StoreIntakeRate']).split('/')),
         f"{m['top_store_rps'] / max(m['webhook_conc'], 1):,.1f}/s ({m['top_store_rps']:,.0f}/s over {m['webhook_conc']} instances)",
         float(str(t['StoreIntakeRate']).split('/')[0]) >= m['top_store_rps'] / max(m['webhook_conc'], 1),
         "raise StoreIntakeRate"),
        ("API Gateway account throttle", f"{LIMITS['api_account_rps']:,}/s", f"{m['webhook_rps']:,.0f}/s",
         LIMITS["api_account_rps"] >= m["webhook_rps"] * 1.2, "ask AWS to raise the account's API Gateway throttle"),
        ("Lambda concurrency (region)", f"{LIMITS['lambda_concurrency']:,}",
         f"{m['webhook_conc'] + m['worker_conc'] + int(t['SlowLaneMaximumConcurrency']):,} (webhook + worker + slow lane)",
         LIMITS["lambda_concurrency"] >= (m["webhook_conc"] + m["worker_conc"] + int(t['SlowLaneMaximumConcurrency'])) * 1.5,
         "ask AWS to raise concurrent executions"),
        ("table writes with `TableCapacity: provisioned` (TableMaxWriteCapacity)",
         f"{int(t['TableMaxWriteCapacity']):,} WCU/s",
         f"{m['wcu'] - m['index_wcu']:,.0f} WCU/s", int(t["TableMaxWriteCapacity"]) >= m["wcu"] - m["index_wcu"],
         "raise TableMaxWriteCapacity (and the account's table quota)"),
        ("orderState index writes with `TableCapacity: provisioned` (TableMaxWriteCapacity)",
         f"{int(t['TableMaxWriteCapacity']):,} WCU/s",
         f"{m['index_wcu']:,.0f} WCU/s", int(t["TableMaxWriteCapacity"]) >= m["index_wcu"],
         "raise TableMaxWriteCapacity"),
        ("hottest store's partition, writes", f"{LIMITS['partition_wcu']:,} WCU/s",
         f"{m['top_wcu']:,.0f} WCU/s", LIMITS["partition_wcu"] >= m["top_wcu"],
         "spread the store's items over more partition keys"),
        ("hottest store's index key (`STORE#<id>#synced`)", f"{LIMITS['partition_wcu']:,} WCU/s",
         f"{m['top_index_wcu']:,.0f} WCU/s", LIMITS["partition_wcu"] >= m["top_index_wcu"],
         "spread the index key over shards"),
        ("hottest store's partition, reads", f"{LIMITS['partition_rcu']:,} RCU/s",
         f"{m['top_rcu']:,.0f} RCU/s", LIMITS["partition_rcu"] >= m["top_rcu"],
         "spread the store's items over more partition keys"),
    ]
    return out


def markdown(m):
    t = m["t"]
    lines = [
        "# Capacity",
        "",
        "Written by `scripts/capacity.py --write` from its parameters and `template.yaml`'s",
        "defaults; CI (`scripts/check-template`) fails when this file is not what the script says.",
        "Per-delivery figures are the measured ones (BENCHMARKS.md sections 2-4); prices are",
        "us-east-1 list prices (re-check before relying on them).",
        "",
        "## The day",
        "",
        f"- Peak: **{PEAK_ORDERS_PER_S:,} orders/s** across {STORES:,} stores and {TENANTS} tenants;"
        f" the biggest store has {TOP_STORE_SHARE:.0%} of the orders.",
        f"- Each order is delivered {DELIVERIES_PER_ORDER} times on average (created, then updates),"
        f" and WooCommerce sends {OTHER_WEBHOOKS_PER_ORDER} more webhook per order that woolink ignores.",
        f"- The day: {DAY_ORDERS:,} orders, {m['day_deliveries']:,.0f} deliveries.",
        "",
        "## At the peak, per service",
        "",
        "| service | load |",
        "|---|---|",
        f"| API Gateway (webhook route) | {m['webhook_rps']:,.0f} requests/s |",
        f"| webhook function | {m['webhook_conc']} concurrent ({WEBHOOK_MS} ms each) |",
        f"| orders queue (SQS) | {m['delivery_rps']:,.0f} messages/s, {m['sqs_rps']:,.0f} requests/s |",
        f"| sync-worker | {m['worker_conc']} concurrent ({WORKER_MS_PER_BATCH} ms per batch of {WORKER_BATCH}) |",
        f"| DynamoDB, table and index | {m['wcu']:,.0f} WCU/s ({INDEX_WCU_PER_DELIVERY:.2f} of each delivery's {WCU_PER_DELIVERY + INDEX_WCU_PER_DELIVERY:.2f} to the orderState index), {m['rcu']:,.0f} RCU/s (on demand) |",
        f"| DynamoDB, hottest key (`STORE#<id>`: its orders, counters and lag buckets) | {m['top_wcu']:,.0f} WCU/s, {m['top_rcu']:,.0f} RCU/s ({m['top_store_rps']:,.0f} webhooks/s) |",
        "",
        "## Settings and quotas against the peak",
        "",
        "| what | set or allowed | the peak needs | holds | before the day |",
        "|---|---|---|---|---|",
    ]
    for what, have, need, ok, fix in checks(m):
        lines.append(f"| {what} | {have} | {need} | {'yes' if ok else '**no**'} | {'—' if ok else fix} |")
    lines += [
        "",
        f"Template defaults read: WebhookRateLimit {t['WebhookRateLimit']}, ApiRateLimit"
        f" {t['ApiRateLimit']}, LoginRateLimit {t['LoginRateLimit']}, WebhookReservedConcurrency"
        f" {t['WebhookReservedConcurrency']}, WorkerMaximumConcurrency {t['WorkerMaximumConcurrency']},"
        f" SlowLaneMaximumConcurrency {t['SlowLaneMaximumConcurrency']},"
        f" CatchUpMaximumConcurrency {t['CatchUpMaximumConcurrency']}, PollMinutes {t['PollMinutes']},"
        f" TableCapacity {t['TableCapacity']}, TableMaxWriteCapacity {t['TableMaxWriteCapacity']}.",
        "With `TableCapacity: provisioned`, set TableMinWriteCapacity to the peak's table writes"
        " and TableMinReadCapacity to its reads before the day (auto scaling takes minutes to",
        "follow a rise, and what is above the provisioned capacity is throttled), and lower them after.",
        "A `no` is a parameter to set at deploy (`sam deploy --parameter-overrides …`) or a quota to",
        "ask AWS for, weeks before the day; the defaults are sized for an ordinary day.",
        "",
        "## Cost of the day",
        "",
        "| service | $ that day | $ per million deliveries |",
        "|---|---|---|",
    ]
    total = 0.0
    for k, v in m["cost"].items():
        total += v
        lines.append(f"| {k} | {v:,.2f} | {m['per_million'][k]:.2f} |")
    lines.append(f"| **total** | **{total:,.2f}** | **{total / m['day_deliveries'] * 1e6:.2f}** |")
    rows, last = options(m)
    lines += [
        "",
        "## The levers toward $2 per million deliveries",
        "",
        "The target is $2 per million deliveries (issue 22). API Gateway charges every webhook,",
        "including those woolink ignores, and DynamoDB writes about"
        f" {WCU_PER_DELIVERY + INDEX_WCU_PER_DELIVERY:.1f} units per delivery: two order puts, a counter",
        f"and a lag bucket on the table, and {INDEX_WCU_PER_DELIVERY:.2f} on the orderState index.",
        "Each lever below is priced on top of the ones above it:",
        "",
        "| lever | built | $ per million deliveries |",
        "|---|---|---|",
    ]
    for what, built, total in rows:
        lines.append(f"| {what} | {built} | {total:.2f} |")
    lines += [
        "",
        f"With every lever that keeps what woolink does, the day costs ${sum(last.values()):.2f} "
        "per million: " + ", ".join(f"{k} {v:.2f}" for k, v in last.items() if v > 0) + ".",
        "The two order puts stay: the first is the claim that keeps an order's versions one at",
        "a time and in order while two deliveries of it are in flight (ARCHITECTURE.md,",
        "Invariants), the second its outcome; folding them into one gives that guarantee up.",
        "(FIFO queues grouped by order would keep an order's versions one at a time themselves",
        "and let the claim go, at $0.50 per million requests instead of $0.40, but they would",
        "replace the fair queues that keep one tenant's or store's backlog from delaying the others.)",
        "Provisioned capacity is an option, not the default: a spike above what auto scaling has",
        "provisioned is throttled, and the webhook's link reads are on the intake's path, where",
        "WooCommerce never retries a failed delivery (and disables a webhook after five); on demand",
        "takes up to twice its previous peak at once. It suits a day whose peak is known and",
        "provisioned ahead (the minimums set for the day), not an ordinary one.",
        "The last two rows are what $2 would take beyond that: the store's status figures and the",
        "order lists by state, both added by issue 20 after the $2 estimate was made (it counted",
        "two writes per delivery). Neither is built; dropping a feature merchants and couriers use",
        "is a product decision, not a capacity one. An order record over 1 KB (a long history)",
        "costs a unit per started KB on each put, which this model does not count.",
        "",
    ]
    total, needs = reserved(last)
    lines += [
        "Reserved capacity, a purchase rather than a build, is the one way to $2 found that gives up",
        f"nothing: one year of ${RESERVED['wcu_upfront']:.0f} upfront and ${RESERVED['wcu_hourly']}"
        f" an hour per 100 write units (${RESERVED['rcu_upfront']:.0f} and ${RESERVED['rcu_hourly']}"
        " per 100 read units) on the provisioned table makes the day",
        f"${total:.2f} per million deliveries at the same {PROVISIONED['utilisation']:.0%} use; $2 needs the"
        f" reserved units {needs:.0%} used over the year, so it",
        "pays for the load that is there every day, not for a peak.",
        "",
    ]
    return "\n".join(lines)


def main():
    m = model()
    text = markdown(m)
    target = ROOT / "CAPACITY.md"
    if "--write" in sys.argv:
        target.write_text(text)
    elif "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print("CAPACITY.md is not what scripts/capacity.py says: run scripts/capacity.py --write")
            sys.exit(1)
        print("CAPACITY.md: up to date")
    else:
        print(text)


if __name__ == "__main__":
    main()
