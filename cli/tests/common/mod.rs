//! What the `woolink` binary's end-to-end tests share: starting `woolink dev` as a user
//! does, and plain HTTP calls to it.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const DEVICE: &str = "abababababababababababababababababababababababababababababababab";

pub struct Running {
    pub child: Child,
    pub base: String,
    pub stdout: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `woolink dev --port 0 …` and waits for its one `listening on` line.
// The child is waited for when `Running` drops.
#[allow(clippy::zombie_processes)]
pub fn start_dev(args: &[&str], envs: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_woolink"));
    cmd.arg("dev").arg("--port").arg("0").args(args);
    cmd.env_remove("AWS_ENDPOINT_URL");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("woolink starts");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut stdout = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read stdout");
        assert!(
            n > 0,
            "woolink dev exited before listening; said: {stdout:?}"
        );
        let line = line.trim_end().to_owned();
        stdout.push(line.clone());
        if let Some(addr) = line.strip_prefix("listening on ") {
            let base = addr.to_owned();
            assert!(base.starts_with("http://127.0.0.1:"), "{line}");
            return Running {
                child,
                base,
                stdout,
            };
        }
    }
}

pub async fn post(base: &str, path: &str, body: Value, bearer: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let r = req.send().await.expect("request");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

pub async fn get(base: &str, path: &str, bearer: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The AWS configuration for the moto server `scripts/test` started.
pub async fn moto_sdk() -> aws_config::SdkConfig {
    let endpoint = std::env::var("WOOLINK_TEST_MOTO_ENDPOINT").expect("run with scripts/test");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await
}

/// An SQS client for the moto server `scripts/test` started.
pub async fn moto_sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&moto_sdk().await)
}

/// Logs in as the seed's ACME operator (`ops@acme.test`); the token.
pub async fn acme_token(base: &str) -> String {
    let (s, r) = post(
        base,
        "/v1/connect/login",
        serde_json::json!({"code": "ACME", "email": "ops@acme.test",
            "password": "correct horse battery staple", "deviceId": DEVICE}),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    r["token"].as_str().unwrap().to_owned()
}

/// Writes a seed file into a fresh folder of the temporary directory; returns its path.
pub fn write_seed(folder: &str, seed: &Value) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{folder}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.json");
    std::fs::write(&path, seed.to_string()).unwrap();
    path
}

/// Sends `body` to a delivery URL as WooCommerce does (signed with `secret`); the status.
pub async fn deliver_signed(
    http: &reqwest::Client,
    url: &str,
    topic: &str,
    secret: &str,
    body: Vec<u8>,
) -> u16 {
    let sig = woolink::intake::woo_signature(secret.as_bytes(), &body);
    http.post(url)
        .header("content-type", "application/json")
        .header("x-wc-webhook-topic", topic)
        .header("x-wc-webhook-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
