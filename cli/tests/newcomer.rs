//! A new operator's first hour, scripted: the CLI against a "deployed" stack on moto (a
//! CloudFormation stack whose outputs name the table, the orders queue and its dead-letter
//! queue, and the application key in Secrets Manager), the way README.md tells it.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

mod common;
use common::*;

const APP_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const PASSWORD: &str = "Quartz-harbor lantern violet 47";

struct Answer {
    ok: bool,
    out: String,
    err: String,
}

impl Answer {
    fn json(&self) -> Value {
        assert_eq!(self.out.lines().count(), 1, "one JSON line: {}", self.out);
        serde_json::from_str(self.out.trim()).unwrap()
    }
}

/// `woolink ARGS` as an operator runs it: AWS settings from the environment (moto's endpoint),
/// nothing of woolink's but what `envs` adds.
fn woolink(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Answer {
    let endpoint = std::env::var("WOOLINK_TEST_MOTO_ENDPOINT").expect("run with scripts/test");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_woolink"));
    cmd.args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("WOOLINK_TABLE")
        .env_remove("WOOLINK_SECRETS_KEY")
        .env_remove("WOOLINK_SECRETS_KEY_ARN")
        .env_remove("WOOLINK_QUEUE_URL")
        .env_remove("WOOLINK_DLQ_URL")
        .env_remove("WOOLINK_USER_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    Answer {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn a_new_operator_runs_the_cli_against_a_stack() {
    let sdk = moto_sdk().await;
    let id = std::process::id();
    let stack = format!("newcomer-{id}");
    let table = format!("newcomer-{id}");

    // The "deployed" stack: its table (created as `woolink dev --aws` creates one), the
    // application key in Secrets Manager, the orders queue and its dead-letter queue.
    let dev = start_dev(
        &["--aws", "--table", &table],
        &[
            (
                "AWS_ENDPOINT_URL",
                &std::env::var("WOOLINK_TEST_MOTO_ENDPOINT").unwrap(),
            ),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    drop(dev);
    let key_arn = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(format!("newcomer-key-{id}"))
        .secret_string(APP_KEY)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let template = json!({
        "Resources": {
            "Dlq": {"Type": "AWS::SQS::Queue"},
            "Orders": {"Type": "AWS::SQS::Queue", "Properties": {"RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 3}}},
        },
        "Outputs": {
            "TableName": {"Value": table},
            "AppKeyArn": {"Value": key_arn},
            "OrdersQueueUrl": {"Value": {"Ref": "Orders"}},
            "OrdersDeadLetterQueueUrl": {"Value": {"Ref": "Dlq"}},
        },
    });
    aws_sdk_cloudformation::Client::new(&sdk)
        .create_stack()
        .stack_name(&stack)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let st = ["--stack-name", stack.as_str()];
    let with_stack =
        |args: &[&str]| -> Vec<String> { st.iter().chain(args).map(|s| s.to_string()).collect() };
    let run = |args: &[&str], stdin: Option<&str>| {
        let all = with_stack(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        woolink(&refs, &[], stdin)
    };

    // A tenant, created twice: the second run changes nothing and prints no new secret.
    let a = run(
        &[
            "tenant",
            "create",
            "--code",
            "acme",
            "--name",
            "Acme Couriers",
            "--fulfilment-url",
            "https://acme.example.com/orders",
        ],
        None,
    );
    assert!(a.ok, "{}", a.err);
    let v = a.json();
    assert_eq!(v["result"], "created");
    let secret = v["fulfilmentSecret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let a = run(
        &[
            "tenant",
            "create",
            "--code",
            "acme",
            "--name",
            "Acme Couriers",
            "--fulfilment-url",
            "https://acme.example.com/orders",
        ],
        None,
    );
    assert!(a.ok, "{}", a.err);
    assert_eq!(
        a.json(),
        json!({"tenant": "ACME", "result": "unchanged"}),
        "no new secret"
    );
    // Leaving out the endpoint keeps it; a rename changes only the name.
    let a = run(
        &[
            "tenant",
            "create",
            "--code",
            "ACME",
            "--name",
            "Acme Couriers Ltd",
        ],
        None,
    );
    assert_eq!(a.json()["result"], "updated", "{}", a.err);
    let a = run(&["tenant", "list"], None);
    let listed = a.json();
    assert_eq!(
        listed["tenants"][0]["fulfilmentUrl"],
        "https://acme.example.com/orders"
    );
    assert_eq!(listed["tenants"][0]["name"], "Acme Couriers Ltd");
    // Moving the endpoint keeps the secret; rotating it is explicit.
    let a = run(
        &[
            "tenant",
            "create",
            "--code",
            "ACME",
            "--fulfilment-url",
            "https://acme.example.com/v2/orders",
        ],
        None,
    );
    assert_eq!(a.json(), json!({"tenant": "ACME", "result": "updated"}));
    let a = run(&["tenant", "rotate-secret", "--code", "ACME"], None);
    assert!(a.ok, "{}", a.err);
    let rotated = a.json()["fulfilmentSecret"].as_str().unwrap().to_owned();
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    // A new tenant needs a name.
    let a = run(&["tenant", "create", "--code", "nameless"], None);
    assert!(!a.ok && a.err.contains("--name"), "{}", a.err);

    // A user: a weak password is refused, a passphrase taken (stdin is not a terminal here).
    let a = run(
        &[
            "user",
            "add",
            "--tenant",
            "ACME",
            "--email",
            "ops@acme.test",
        ],
        Some("acme12345678\n"),
    );
    assert!(!a.ok && a.err.contains("password refused"), "{}", a.err);
    let a = run(
        &[
            "user",
            "add",
            "--tenant",
            "ACME",
            "--email",
            "ops@acme.test",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(a.ok, "{}", a.err);
    assert_eq!(a.json()["result"], "created");

    // For people: a table.
    let a = run(&["tenant", "list", "--output", "table"], None);
    assert!(a.ok, "{}", a.err);
    let header = a
        .out
        .lines()
        .find(|l| l.contains("code") && l.contains("active"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        header.contains("name") && header.contains("fulfilmentUrl"),
        "{}",
        a.out
    );
    assert!(
        a.out.contains("ACME") && !a.out.contains(&rotated),
        "{}",
        a.out
    );

    // A wrong table or stack is said plainly, in a line, not a debug dump.
    let a = woolink(
        &["tenant", "list", "--table", "no-such-table"],
        &[("WOOLINK_SECRETS_KEY", APP_KEY)],
        None,
    );
    assert!(!a.ok);
    assert!(
        a.err.contains("table no-such-table not found")
            && a.err.contains("WOOLINK_TABLE")
            && a.err.contains("--stack-name"),
        "{}",
        a.err
    );
    assert!(a.err.len() < 300, "short: {}", a.err);
    let a = woolink(
        &["tenant", "list", "--stack-name", "no-such-stack"],
        &[],
        None,
    );
    assert!(!a.ok && a.err.contains("stack no-such-stack"), "{}", a.err);
    assert!(a.err.len() < 400, "short: {}", a.err);
    let a = woolink(&["tenant", "list", "--table", &table], &[], None);
    assert!(
        !a.ok && a.err.contains("WOOLINK_SECRETS_KEY"),
        "no key, said how to give one: {}",
        a.err
    );

    // A store linked through the API, then the purge guard.
    let a = run(
        &[
            "store",
            "add",
            "--tenant",
            "ACME",
            "--id",
            "st_nc1",
            "--name",
            "Shop",
            "--customer-id",
            "c1",
        ],
        None,
    );
    assert!(a.ok, "{}", a.err);
    let dev = start_dev(
        &["--aws", "--table", &table],
        &[
            (
                "AWS_ENDPOINT_URL",
                &std::env::var("WOOLINK_TEST_MOTO_ENDPOINT").unwrap(),
            ),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("WOOLINK_SECRETS_KEY", APP_KEY),
        ],
    );
    let (s, r) = post(
        &dev.base,
        "/v1/connect/login",
        json!({"code": "acme", "email": "ops@acme.test", "password": PASSWORD, "deviceId": DEVICE}),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let token = r["token"].as_str().unwrap().to_owned();
    let (s, r) = post(
        &dev.base,
        "/v1/connect/link",
        json!({"storeId": "st_nc1", "storeUrl": "http://127.0.0.1:9", "deviceId": DEVICE}),
        Some(&token),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    drop(dev);
    let a = run(&["store", "purge", "--id", "st_nc1"], None);
    assert!(!a.ok, "a connected store is not purged without --yes");
    assert!(
        a.err.contains("connected") && a.err.contains("--yes"),
        "{}",
        a.err
    );
    let a = run(&["store", "purge", "--id", "st_nc1", "--yes"], None);
    assert!(a.ok, "{}", a.err);
    assert_eq!(a.json()["ordersPurged"], 0);
    assert!(
        a.err.contains("purging") && a.err.contains("purged 0"),
        "progress on stderr: {}",
        a.err
    );

    // 25 dead letters: peek says it shows 10, redrive moves all 25 with progress.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let outputs = aws_sdk_cloudformation::Client::new(&sdk)
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .unwrap();
    let output = |k: &str| {
        outputs.stacks()[0]
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(k))
            .and_then(|o| o.output_value())
            .unwrap()
            .to_owned()
    };
    let (orders, dlq) = (output("OrdersQueueUrl"), output("OrdersDeadLetterQueueUrl"));
    for i in 0..25 {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(format!("dead letter {i}"))
            .send()
            .await
            .unwrap();
    }
    let a = run(&["dlq", "peek", "--max", "50"], None);
    assert!(a.ok, "{}", a.err);
    let v = a.json();
    assert_eq!(v["deadLetters"], 25);
    assert_eq!(v["shown"], 10);
    assert_eq!(v["capped"], true);
    assert!(a.err.contains("at most 10"), "{}", a.err);
    let a = run(&["dlq", "redrive"], None);
    assert!(a.ok, "{}", a.err);
    assert_eq!(
        a.json(),
        json!({"redriven": 25, "method": "one-by-one"}),
        "moto has no move task: {}",
        a.err
    );
    assert!(a.err.contains("move task is not available"), "{}", a.err);
    assert!(
        a.err.lines().filter(|l| l.starts_with("redrive: ")).count() >= 3,
        "progress: {}",
        a.err
    );
    assert!(a.err.contains("25 of about 25 moved"), "{}", a.err);
    let depth = |url: String| {
        let sqs = sqs.clone();
        async move {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                )
                .send()
                .await
                .unwrap()
                .attributes()
                .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
                .parse::<u32>()
                .unwrap()
        }
    };
    assert_eq!(depth(orders).await, 25);
    assert_eq!(depth(dlq).await, 0);
}
