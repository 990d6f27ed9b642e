//! The `woolink` binary as a user runs it: `woolink dev` and the admin commands.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

mod common;
use common::*;

#[tokio::test]
async fn dev_runs_the_demo_wizard_end_to_end() {
    let dev = start_dev(&[], &[]);
    assert_eq!(
        dev.stdout
            .iter()
            .filter(|l| l.starts_with("listening on"))
            .count(),
        1
    );
    let banner = dev.stdout.join("\n");
    assert!(banner.contains("code DEMO"), "{banner}");
    assert!(banner.contains("ops@demo.test"), "{banner}");
    assert!(banner.contains("demo-password-1"), "{banner}");
    let b = dev.base.as_str();

    let (s, r) = post(
        b,
        "/v1/connect/resolve",
        json!({"code": "demo", "platform": "woocommerce", "deviceId": DEVICE}),
        None,
    )
    .await;
    assert_eq!((s, r["tenant"]["code"].as_str()), (200, Some("DEMO")));
    let (s, r) = post(b, "/v1/connect/login", json!({"code": "DEMO", "email": "ops@demo.test", "password": "demo-password-1", "deviceId": DEVICE}), None).await;
    assert_eq!(s, 200, "{r}");
    let token = r["token"].as_str().unwrap().to_owned();
    let (s, r) = get(b, "/v1/connect/stores", &token).await;
    assert_eq!(s, 200);
    assert_eq!(r["stores"][0]["id"], "st_demo_1");
    let (s, r) = post(
        b,
        "/v1/connect/link",
        json!({"storeId": "st_demo_1", "storeUrl": "http://127.0.0.1:8081", "deviceId": DEVICE}),
        Some(&token),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(
        r["webhook"]["deliveryUrl"],
        format!("{b}/v1/webhooks/woocommerce/st_demo_1")
    );
    let key = r["apiKey"].as_str().unwrap();
    let (s, r) = get(b, "/v1/stores/st_demo_1", key).await;
    assert_eq!((s, r["status"].as_str()), (200, Some("connected")));
}

#[tokio::test]
async fn dev_loads_a_seed_file_and_refuses_a_bad_one() {
    let dir = std::env::temp_dir().join(format!("woolink-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("seed.json");
    std::fs::write(
        &good,
        json!({"tenants": [{"code": "ACME", "name": "Acme Couriers", "active": true,
            "fulfilment": {"url": "http://127.0.0.1:9100/inbox", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
            "users": [{"email": "ops@acme.test", "password": "correct horse battery staple"}],
            "stores": [{"id": "st_1", "name": "Acme Shop", "customerId": "cus_1"}]}]})
        .to_string(),
    )
    .unwrap();
    let dev = start_dev(&["--seed", good.to_str().unwrap()], &[]);
    let (s, r) = post(&dev.base, "/v1/connect/login", json!({"code": "acme", "email": "ops@acme.test", "password": "correct horse battery staple", "deviceId": DEVICE}), None).await;
    assert_eq!(s, 200, "{r}");
    drop(dev);

    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"tenants": [{"code": "ACME"}]}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_woolink"))
        .args(["dev", "--port", "0", "--seed", bad.to_str().unwrap()])
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("seed file") && err.contains("name"), "{err}");
}

#[tokio::test]
async fn dev_answers_http_1_0() {
    let dev = start_dev(&[], &[]);
    let addr = dev.base.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let body = r#"{"code":"DEMO","platform":"woocommerce","deviceId":"abababababababababababababababababababababababababababababababab"}"#;
        write!(s, "POST /v1/connect/resolve HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut s, &mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    assert!(answer.contains("Demo Couriers"), "{answer}");

    // WooCommerce's ping, as WooCommerce sends it: HTTP/1.0, form body.
    let addr = dev.base.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let body = "webhook_id=142";
        write!(s, "POST /v1/webhooks/woocommerce/st_demo_1 HTTP/1.0\r\nUser-Agent: WooCommerce/10.4.0 Hookshot (WordPress/6.8.3)\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut s, &mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
}

#[test]
fn sign_prints_woocommerce_signature_of_the_exact_bytes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/woocommerce");
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/signed-order-updated.request.json")).unwrap(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_woolink"))
        .args([
            "sign",
            "--secret",
            meta["secret"].as_str().unwrap(),
            &format!("{dir}/signed-order-updated.body"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        meta["headers"]["X-WC-Webhook-Signature"].as_str().unwrap()
    );
}

fn admin(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let endpoint = std::env::var("WOOLINK_TEST_MOTO_ENDPOINT")
        .expect("WOOLINK_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test");
    let mut child = Command::new(env!("CARGO_BIN_EXE_woolink"))
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env(
            "WOOLINK_SECRETS_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn admin_commands_are_idempotent_against_dynamodb() {
    // A table for this test, created by the local runner's --aws mode and then administered.
    let table = format!("woolink-cli-{}", std::process::id());
    let endpoint = std::env::var("WOOLINK_TEST_MOTO_ENDPOINT").expect("run with scripts/test");
    let dev = start_dev(
        &["--aws", "--table", &table],
        &[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    assert!(dev.stdout[0].contains(&table), "{:?}", dev.stdout);
    drop(dev);

    let t = ["--table", table.as_str()];
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&t);
        admin(&all, stdin)
    };
    let (ok, out, err) = run(
        &[
            "tenant",
            "create",
            "--code",
            "zeta",
            "--name",
            "Zeta Freight",
            "--fulfilment-url",
            "https://zeta.example.com/orders",
        ],
        None,
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["result"], "created");
    assert!(v["fulfilmentSecret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let secret = v["fulfilmentSecret"].as_str().unwrap().to_owned();
    let (ok, out, _) = run(
        &[
            "tenant",
            "create",
            "--code",
            "ZETA",
            "--name",
            "Zeta Freight",
            "--fulfilment-url",
            "https://zeta.example.com/orders",
            "--fulfilment-secret",
            &secret,
        ],
        None,
    );
    assert!(ok);
    assert!(out.contains("\"unchanged\""), "{out}");
    // A new tenant gets order document v2; switching keeps what is not given.
    let (ok, out, err) = run(
        &[
            "tenant",
            "document",
            "--tenant",
            "ZETA",
            "--order-meta-keys",
            "_delivery_date",
        ],
        None,
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["document"]["version"], 2, "{out}");
    assert_eq!(
        v["document"]["orderMetaKeys"],
        serde_json::json!(["_delivery_date"])
    );
    let (ok, out, _) = run(
        &["tenant", "document", "--tenant", "ZETA", "--version", "1"],
        None,
    );
    assert!(ok);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["document"]["version"], 1);
    assert_eq!(
        v["document"]["orderMetaKeys"],
        serde_json::json!(["_delivery_date"]),
        "kept"
    );
    let (ok, out, _) = run(
        &["tenant", "document", "--tenant", "ZETA", "--version", "1"],
        None,
    );
    assert!(ok && out.contains("\"unchanged\""), "{out}");
    let (ok, _, err) = run(
        &["tenant", "document", "--tenant", "ZETA", "--version", "3"],
        None,
    );
    assert!(!ok && err.contains("3"), "{err}");
    // A tenant endpoint on a private address is refused outside the local runner.
    let (ok, _, err) = run(
        &[
            "tenant",
            "create",
            "--code",
            "bad",
            "--name",
            "Bad",
            "--fulfilment-url",
            "https://10.0.0.1/x",
        ],
        None,
    );
    assert!(!ok);
    assert!(err.contains("fulfilment URL refused"), "{err}");

    let (ok, out, err) = run(
        &[
            "user",
            "add",
            "--tenant",
            "zeta",
            "--email",
            "Ops@Zeta.test",
        ],
        Some("Quartz-harbor lantern violet 47\n"),
    );
    assert!(ok, "{err}");
    assert!(out.contains("\"created\""), "{out}");
    let (_, out, _) = run(
        &[
            "user",
            "add",
            "--tenant",
            "zeta",
            "--email",
            "ops@zeta.test",
        ],
        Some("Quartz-harbor lantern violet 47\n"),
    );
    assert!(out.contains("\"unchanged\""), "{out}");
    let (ok, _, err) = run(
        &["user", "add", "--tenant", "nope", "--email", "a@b.test"],
        Some("Quartz-harbor lantern violet 47\n"),
    );
    assert!(!ok);
    assert!(err.contains("tenant_not_found"), "{err}");
    // Weak passwords are refused before anything is written: short, common, or the
    // account's own name.
    for weak in ["pw", "password1234", "zetazetazeta1", "ops@zeta.test!!"] {
        let (ok, _, err) = run(
            &[
                "user",
                "add",
                "--tenant",
                "zeta",
                "--email",
                "ops@zeta.test",
            ],
            Some(&format!("{weak}\n")),
        );
        assert!(!ok, "{weak} was accepted");
        assert!(err.contains("password refused"), "{weak}: {err}");
    }

    let (ok, out, err) = run(
        &[
            "store",
            "add",
            "--tenant",
            "zeta",
            "--id",
            "st_z1",
            "--name",
            "Zeta Shop",
            "--customer-id",
            "cus_z1",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains("\"created\""));
    let (_, out, _) = run(
        &[
            "store",
            "add",
            "--tenant",
            "zeta",
            "--id",
            "st_z1",
            "--name",
            "Zeta Shop",
            "--customer-id",
            "cus_z1",
        ],
        None,
    );
    assert!(out.contains("\"unchanged\""), "{out}");
    run(
        &["tenant", "create", "--code", "omega", "--name", "Omega"],
        None,
    );
    let (ok, _, err) = run(
        &[
            "store",
            "add",
            "--tenant",
            "omega",
            "--id",
            "st_z1",
            "--name",
            "Taken",
            "--customer-id",
            "c",
        ],
        None,
    );
    assert!(!ok);
    assert!(
        err.contains("conflict") && err.contains("another tenant"),
        "{err}"
    );

    let (ok, out, _) = run(&["tenant", "list"], None);
    assert!(ok);
    assert_eq!(out.lines().count(), 1, "one JSON line: {out}");
    let listed: Value = serde_json::from_str(out.trim()).unwrap();
    let codes: Vec<String> = listed["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap().to_owned())
        .collect();
    // DEMO is the runner's demo seed, applied when it created the table.
    assert_eq!(codes, ["DEMO", "OMEGA", "ZETA"]);
    assert!(!out.contains(&secret), "the list never shows secrets");

    // The operator's user can log in through a runner on the same table.
    let dev = start_dev(
        &["--aws", "--table", &table],
        &[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            (
                "WOOLINK_SECRETS_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            ),
        ],
    );
    let (s, r) = post(&dev.base, "/v1/connect/login", json!({"code": "zeta", "email": "ops@zeta.test", "password": "Quartz-harbor lantern violet 47", "deviceId": DEVICE}), None).await;
    assert_eq!(s, 200, "{r}");
    let token = r["token"].as_str().unwrap().to_owned();
    let (s, r) = post(
        &dev.base,
        "/v1/connect/link",
        json!({"storeId": "st_z1", "storeUrl": "http://127.0.0.1:9", "deviceId": DEVICE}),
        Some(&token),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let key = r["apiKey"].as_str().unwrap().to_owned();

    // One order's history, as the operator sees it (the record as the worker writes it).
    let db = woolink::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&common::moto_sdk().await),
        table.clone(),
    );
    let now = chrono::Utc::now();
    let mut o = woolink::model::OrderSync::first(
        woolink::domain::StoreId::parse("st_z1").unwrap(),
        woolink::domain::OrderId::new(5),
        now,
    );
    o.note(
        now,
        woolink::timeline::Step::Received {
            source: "webhook".into(),
            topic: Some("order.created".into()),
            version: "2026-11-30T10:00:00.000".into(),
            status: "processing".into(),
        },
        chrono::Duration::days(90),
    );
    o.state = woolink::model::SyncState::Queued;
    woolink::ports::OrderSyncs::save_order_sync(&db, &o, None)
        .await
        .unwrap();
    let (ok, out, err) = run(&["order", "show", "--store", "st_z1", "--order", "5"], None);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["order"]["orderId"], 5, "{out}");
    assert_eq!(v["order"]["state"], "queued");
    assert_eq!(v["timeline"][0]["kind"], "received");
    assert_eq!(v["timeline"][0]["topic"], "order.created");
    let (ok, _, err) = run(&["order", "show", "--store", "st_z1", "--order", "6"], None);
    assert!(!ok);
    assert!(err.contains("not known to woolink"), "{err}");

    // The operator disconnects the store from the CLI; the link's key stops working.
    let (ok, out, err) = run(&["store", "disconnect", "--id", "st_z1"], None);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["status"], "disconnected");
    assert!(v["ordersExpireAt"].is_string());
    let (s, _) = get(&dev.base, "/v1/stores/st_z1", &key).await;
    assert_eq!(s, 401);
    let (ok, out, _) = run(&["store", "purge", "--id", "st_z1"], None);
    assert!(ok);
    assert!(
        out.contains("\"ordersPurged\":1"),
        "the order shown above: {out}"
    );
    let (ok, _, err) = run(&["store", "disconnect", "--id", "st_nolink"], None);
    assert!(!ok);
    assert!(err.contains("store_not_found"), "{err}");
}

#[tokio::test]
async fn dlq_peek_and_redrive_against_sqs() {
    let endpoint = std::env::var("WOOLINK_TEST_MOTO_ENDPOINT").expect("run with scripts/test");
    let sqs = moto_sqs().await;
    let name = format!("cli-dlq-{}", std::process::id());
    let (queue, dlq) =
        woolink::queue::SqsQueue::create_with_dlq(&sqs, &name, Duration::from_secs(30), 5)
            .await
            .unwrap();
    let envelope = r#"{"v":1,"kind":"woo.order","storeId":"st_1","tenant":"ACME","topic":"order.updated","orderId":42,"modifiedAt":"2026-11-23T10:00:00","receivedAt":"2026-11-23T10:00:01.000Z","bodySha256":"00","payload":{"id":42}}"#;
    for body in [envelope, "not an envelope"] {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_woolink"))
            .args(args)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("WOOLINK_QUEUE_URL", &queue)
            .env("WOOLINK_DLQ_URL", &dlq)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let peek = run(&["dlq", "peek"]);
    assert_eq!(peek.lines().count(), 1, "one JSON line: {peek}");
    assert!(peek.contains("\"deadLetters\":2"), "{peek}");
    assert!(peek.contains("\"orderId\":42"), "{peek}");
    assert!(peek.contains("undecodable"), "{peek}");
    // Peeking leaves them there.
    let out = run(&["dlq", "redrive"]);
    assert!(out.contains("\"redriven\":2"), "{out}");
    let back = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(back.messages.unwrap_or_default().len(), 2);
    let left = sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert!(left.messages.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn the_demo_order_reaches_the_demo_inbox() {
    let dev = start_dev(&[], &[]);
    let b = dev.base.as_str();
    let (_, r) = post(b, "/v1/connect/login", json!({"code": "DEMO", "email": "ops@demo.test", "password": "demo-password-1", "deviceId": DEVICE}), None).await;
    let token = r["token"].as_str().unwrap().to_owned();
    let (_, link) = post(
        b,
        "/v1/connect/link",
        json!({"storeId": "st_demo_1", "storeUrl": "http://127.0.0.1:8081", "deviceId": DEVICE}),
        Some(&token),
    )
    .await;
    let secret = link["webhook"]["secret"].as_str().unwrap();
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/woocommerce/signed-order-updated.body"
    ))
    .unwrap();
    let url = format!("{b}/v1/webhooks/woocommerce/st_demo_1");
    let status = deliver_signed(&reqwest::Client::new(), &url, "order.updated", secret, body).await;
    assert_eq!(status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let inbox: Value = reqwest::get(format!("{b}/_local/inbox"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(first) = inbox["received"].as_array().and_then(|r| r.first()) {
            assert_eq!(first["verified"], true);
            assert_eq!(first["type"], "order.created");
            assert_eq!(first["orderId"], 727);
            assert_eq!(first["event"]["data"]["customerId"], "cus_demo_1");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing reached the inbox"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `woolink dev --aws` seeds a demo login and loopback URLs: pointed at a table it did not
/// create for local use (a deployed stack's, say), it refuses to start and says why. A table
/// it created itself it uses again.
#[tokio::test]
async fn dev_refuses_a_table_it_did_not_create() {
    let endpoint = std::env::var("WOOLINK_TEST_MOTO_ENDPOINT").expect("run with scripts/test");
    let sdk = moto_sdk().await;
    let table = format!("woolink-deployed-{}", std::process::id());
    woolink::store::DynamoStore::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
        .await
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_woolink"))
        .args(["dev", "--port", "0", "--aws", "--table", &table])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("woolink dev started on a table it did not create");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&table) && stderr.contains("was not created by woolink dev"),
        "{stderr}"
    );

    // Its own table: created on the first start, used again on the next.
    let own = format!("woolink-own-{}", std::process::id());
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    drop(start_dev(&["--aws", "--table", &own], &env));
    drop(start_dev(&["--aws", "--table", &own], &env));
}

/// `woolink tenant api-key create|list|revoke` against DynamoDB: the key printed once, a
/// listing without it, revocation by id, and the errors an operator can make.
#[tokio::test]
async fn tenant_api_keys_are_created_listed_and_revoked() {
    let table = format!("woolink-keys-{}", std::process::id());
    let endpoint = std::env::var("WOOLINK_TEST_MOTO_ENDPOINT").expect("run with scripts/test");
    let dev = start_dev(
        &["--aws", "--table", &table],
        &[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    drop(dev);
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&["--table", table.as_str()]);
        admin(&all, None)
    };
    let (ok, _, err) = run(&["tenant", "create", "--code", "KEYS", "--name", "Keys Ltd"]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&[
        "tenant",
        "api-key",
        "create",
        "--tenant",
        "keys",
        "--scope",
        "shipments:write,orders:read",
    ]);
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("wlt_"), "{created}");
    assert_eq!(created["scopes"], json!(["orders:read", "shipments:write"]));
    let id = created["id"].as_str().unwrap().to_owned();

    let (ok, out, _) = run(&["tenant", "api-key", "list", "--tenant", "KEYS"]);
    assert!(ok);
    assert!(!out.contains(key), "the key itself is never listed");
    let listed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(listed["keys"][0]["id"], id.as_str());
    assert_eq!(listed["keys"][0]["revokedAt"], Value::Null);

    let (ok, out, _) = run(&[
        "tenant", "api-key", "revoke", "--tenant", "KEYS", "--id", &id,
    ]);
    assert!(ok);
    let revoked: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(revoked["revokedAt"].is_string());

    for (args, needle) in [
        (
            vec![
                "tenant",
                "api-key",
                "create",
                "--tenant",
                "KEYS",
                "--scope",
                "everything",
            ],
            "unknown scope",
        ),
        (
            vec![
                "tenant",
                "api-key",
                "create",
                "--tenant",
                "NOPE",
                "--scope",
                "orders:read",
            ],
            "does not exist",
        ),
        (
            vec![
                "tenant", "api-key", "revoke", "--tenant", "KEYS", "--id", "tk_nope",
            ],
            "no API key",
        ),
    ] {
        let (ok, _, err) = run(&args);
        assert!(!ok && err.contains(needle), "{args:?}: {err}");
    }
}
