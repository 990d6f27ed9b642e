//! Metrics as CloudWatch Embedded Metric Format (EMF): one JSON line per event on stdout,
//! which CloudWatch Logs turns into metrics without an API call. Dimensioned by tenant only
//! (never by store: 50,000 stores would be 50,000 metric series each), plus a bounded reason
//! where one is named, and each also without dimensions (the stack's total, for alarms). Off unless the function turns it on (`WOOLINK_METRICS=emf`, as the
//! template does): the local runner and the tests keep stdout for themselves.

use std::sync::{Mutex, OnceLock};

use serde_json::{json, Map, Value};

use crate::domain::TenantCode;

/// The namespace every metric is published under.
pub const NAMESPACE: &str = "woolink";

/// Every metric woolink publishes, with its unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// A verified order delivery queued by the intake.
    OrdersReceived,
    /// An order version the worker queued for delivery to the tenant.
    OrdersQueued,
    /// A delivery the tenant accepted.
    OrdersSynced,
    /// A delivery refused or out of retries (parked in the dead-letter queue).
    OrdersFailed,
    /// A version with nothing for the tenant (dimension `Reason`).
    OrdersSkipped,
    /// One delivery attempt's duration, milliseconds.
    DeliveryLatency,
    /// From the webhook's receipt to the tenant's acceptance, milliseconds.
    DeliveryLag,
    /// Writes to a store (`Result`: `shipment_written`, `shipment_failed`, `stock_written`,
    /// `stock_failed`; a stock batch counts its items).
    StoreWrites,
    /// A delivery not tried where it was received because its tenant's gate was open
    /// (`Reason`: `slow_lane` when sent to the slow lane, `parked` when held there).
    DeliveriesDeferred,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Self::OrdersReceived => "OrdersReceived",
            Self::OrdersQueued => "OrdersQueued",
            Self::OrdersSynced => "OrdersSynced",
            Self::OrdersFailed => "OrdersFailed",
            Self::OrdersSkipped => "OrdersSkipped",
            Self::DeliveryLatency => "DeliveryLatency",
            Self::DeliveryLag => "DeliveryLag",
            Self::StoreWrites => "StoreWrites",
            Self::DeliveriesDeferred => "DeliveriesDeferred",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Self::DeliveryLatency | Self::DeliveryLag => "Milliseconds",
            _ => "Count",
        }
    }
}

enum Sink {
    Stdout,
    Capture(Mutex<Vec<String>>),
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Turns EMF on for this process when `WOOLINK_METRICS=emf` (the deployed functions).
pub fn init_from_env() {
    if std::env::var("WOOLINK_METRICS").is_ok_and(|v| v.trim() == "emf") {
        let _ = SINK.set(Sink::Stdout);
    }
}

/// Keeps the lines instead of printing them (tests); the first sink set wins.
pub fn capture() {
    let _ = SINK.set(Sink::Capture(Mutex::new(Vec::new())));
}

/// The lines kept so far (tests).
pub fn captured() -> Vec<String> {
    match SINK.get() {
        Some(Sink::Capture(lines)) => lines.lock().map(|l| l.clone()).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The EMF line for `values` of one tenant, with an optional extra dimension (a bounded
/// reason or result).
pub fn line(
    tenant: &TenantCode,
    extra: Option<(&'static str, &str)>,
    values: &[(Metric, f64)],
    timestamp_ms: i64,
) -> String {
    let mut dims = vec!["Tenant"];
    let mut root = Map::new();
    root.insert("Tenant".into(), json!(tenant.as_str()));
    if let Some((name, value)) = extra {
        dims.push(name);
        root.insert(name.into(), json!(value));
    }
    let metrics: Vec<Value> = values
        .iter()
        .map(|(m, _)| json!({"Name": m.name(), "Unit": m.unit()}))
        .collect();
    for (m, v) in values {
        root.insert(m.name().into(), json!(v));
    }
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                // Per tenant, and once more without dimensions: the stack-wide series the
                // template's alarms watch (an alarm cannot search across tenants).
                "Dimensions": [dims, []],
                "Metrics": metrics,
            }],
        }),
    );
    Value::Object(root).to_string()
}

/// Publishes `values` for `tenant` (nothing when metrics are off).
pub fn emit(tenant: &TenantCode, extra: Option<(&'static str, &str)>, values: &[(Metric, f64)]) {
    let Some(sink) = SINK.get() else { return };
    let text = line(tenant, extra, values, chrono::Utc::now().timestamp_millis());
    match sink {
        Sink::Stdout => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
        }
        Sink::Capture(lines) => {
            if let Ok(mut l) = lines.lock() {
                l.push(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_carries_its_dimensions_and_values_at_the_top() {
        let t = TenantCode::parse("ACME").unwrap();
        let v: Value = serde_json::from_str(&line(
            &t,
            Some(("Reason", "not_trigger")),
            &[(Metric::OrdersSkipped, 1.0)],
            1_764_000_000_000,
        ))
        .unwrap();
        assert_eq!(v["Tenant"], "ACME");
        assert_eq!(v["Reason"], "not_trigger");
        assert_eq!(v["OrdersSkipped"], 1.0);
        let d = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(d["Namespace"], NAMESPACE);
        assert_eq!(d["Dimensions"], json!([["Tenant", "Reason"], []]));
        assert_eq!(
            d["Metrics"][0],
            json!({"Name": "OrdersSkipped", "Unit": "Count"})
        );
        assert_eq!(v["_aws"]["Timestamp"], 1_764_000_000_000i64);
    }
}
