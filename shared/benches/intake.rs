//! Intake CPU work per delivery: verify + parse what is needed + build the envelope, beside the
//! floor (bare HMAC-SHA256 and a typed serde_json parse of the same bytes), for 3 KB, 16 KB and
//! 64 KB orders. Criterion measures each; a closing table prints the ratio to the floor.
//!
//! Run: `cargo bench -p woolink-shared --bench intake`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use serde::Deserialize;
use serde_json::Value;
use woolink::crypto::SecretString;
use woolink::domain::{StoreId, TenantCode};
use woolink::intake::{prepare, woo_signature, IntakeLink, Prepared, UnverifiedDelivery, Verifier};
use woolink::model::LinkStatus;

const SECRET: &str = "5f2b8c1e9a7d4f3b6e0c2a1d8f7e6b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f";

/// A WooCommerce order body of about `target` bytes, encoded as PHP does (`/` as `\/`).
fn order_of_size(target: usize) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/woocommerce/docs-v3-order-retrieve-response.json"
    );
    let mut order: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let item = order["line_items"][0].clone();
    let encode = |o: &Value| {
        serde_json::to_string(o)
            .expect("encode")
            .replace('/', "\\/")
            .into_bytes()
    };
    let mut n = 1;
    while encode(&order).len() < target {
        let mut next = item.clone();
        next["id"] = Value::from(1000 + n);
        next["name"] = Value::from(format!("Product number {n} with a longer name"));
        order["line_items"]
            .as_array_mut()
            .expect("items")
            .push(next);
        n += 1;
    }
    encode(&order)
}

/// What a typed consumer of the order would parse.
#[allow(dead_code)]
#[derive(Deserialize)]
struct TypedOrder {
    id: u64,
    status: String,
    currency: String,
    date_modified_gmt: Option<String>,
    total: String,
    billing: Address,
    shipping: Address,
    line_items: Vec<LineItem>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct Address {
    first_name: String,
    last_name: String,
    address_1: String,
    city: String,
    postcode: String,
    country: String,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct LineItem {
    id: u64,
    name: String,
    sku: Option<String>,
    quantity: f64,
    price: f64,
}

fn link() -> IntakeLink {
    IntakeLink {
        tenant: TenantCode::parse("ACME").expect("code"),
        tenant_active: true,
        status: LinkStatus::Connected,
        verifier: Verifier::new(vec![SecretString::new(SECRET.to_owned())]),
        holds_woo_keys: false,
    }
}

fn intake_once(link: &IntakeLink, store: &StoreId, body: &axum::body::Bytes, sig: &str) -> usize {
    let verified = link
        .verifier
        .verify(UnverifiedDelivery {
            store_id: store.clone(),
            topic: Some("order.updated".to_owned()),
            signature: Some(sig.to_owned()),
            body: body.clone(),
        })
        .expect("verifies");
    match prepare(link, &verified, 1024 * 1024).expect("prepares") {
        Prepared::Message(m) => m.body.len(),
        Prepared::Product(c) => c.encode().len(),
        Prepared::Ignored { .. } => 0,
    }
}

const SIZES: [(&str, usize); 3] = [("3KB", 3 * 1024), ("16KB", 16 * 1024), ("64KB", 64 * 1024)];

fn bench(c: &mut Criterion) {
    let link = link();
    let store = StoreId::parse("st_1").expect("id");
    let mut group = c.benchmark_group("intake");
    for (name, size) in SIZES {
        let body = order_of_size(size);
        let sig = woo_signature(SECRET.as_bytes(), &body);
        let bytes = axum::body::Bytes::from(body.clone());
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("hmac_sha256", name), &body, |b, body| {
            b.iter(|| woo_signature(SECRET.as_bytes(), black_box(body)))
        });
        group.bench_with_input(BenchmarkId::new("typed_parse", name), &body, |b, body| {
            b.iter(|| serde_json::from_slice::<TypedOrder>(black_box(body)).expect("parses"))
        });
        group.bench_with_input(
            BenchmarkId::new("verify_parse_envelope", name),
            &bytes,
            |b, bytes| b.iter(|| intake_once(&link, &store, black_box(bytes), &sig)),
        );
    }
    group.finish();
}

/// Median time of `f` over `rounds` rounds of `per_round` calls.
fn median_ns(rounds: usize, per_round: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_round {
                f();
            }
            start.elapsed().as_nanos() as f64 / per_round as f64
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[rounds / 2]
}

fn ratio_table() {
    let link = link();
    let store = StoreId::parse("st_1").expect("id");
    println!("\nintake CPU per delivery (median of 31 rounds; floor = HMAC + typed parse)");
    println!(
        "{:>6} {:>8} {:>12} {:>12} {:>12} {:>12} {:>7}",
        "size", "bytes", "hmac µs", "parse µs", "floor µs", "intake µs", "ratio"
    );
    for (name, size) in SIZES {
        let body = order_of_size(size);
        let sig = woo_signature(SECRET.as_bytes(), &body);
        let bytes = axum::body::Bytes::from(body.clone());
        let per_round = (2_000_000 / body.len()).max(20);
        let hmac = median_ns(31, per_round, || {
            black_box(woo_signature(SECRET.as_bytes(), black_box(&body)));
        });
        let parse = median_ns(31, per_round, || {
            black_box(serde_json::from_slice::<TypedOrder>(black_box(&body)).expect("parses"));
        });
        let intake = median_ns(31, per_round, || {
            black_box(intake_once(&link, &store, black_box(&bytes), &sig));
        });
        let floor = hmac + parse;
        println!(
            "{name:>6} {:>8} {:>12.2} {:>12.2} {:>12.2} {:>12.2} {:>6.2}x",
            body.len(),
            hmac / 1e3,
            parse / 1e3,
            floor / 1e3,
            intake / 1e3,
            intake / floor
        );
    }
}

/// What building the routers costs at a function's init (the routes come with their OpenAPI
/// operations, built from the handlers' annotations), and the whole reference on the first
/// `GET /openapi.json`.
fn router_table() {
    println!("\nrouters at init (median of 31 rounds of 20)");
    let webhook = median_ns(31, 20, || {
        black_box(woolink::api::webhook_routes());
    });
    let connect = median_ns(31, 20, || {
        black_box(woolink::api::connect_routes());
    });
    let document = median_ns(31, 20, || {
        black_box(woolink::api::openapi::document());
    });
    println!("  webhook routes   {:>9.1} µs", webhook / 1e3);
    println!("  connect routes   {:>9.1} µs", connect / 1e3);
    println!("  whole reference  {:>9.1} µs", document / 1e3);
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
    ratio_table();
    router_table();
}
