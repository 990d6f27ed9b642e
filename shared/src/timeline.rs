//! An order's history as woolink lived it: what came in, what was decided, each delivery
//! attempt, and what the tenant's operators did. Kept on the order's own record (so it costs no
//! write of its own), compactly, at most [`MAX_ENTRIES`] entries, none older than the retention
//! period.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// At most this many entries per order: the first (how woolink first heard of it) and the most
/// recent ones; how many were left out in between is counted.
pub const MAX_ENTRIES: usize = 40;

/// One step of an order's life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub step: Step,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// A version of the order reached woolink (`source`: webhook, poll or backfill).
    #[serde(rename_all = "camelCase")]
    Received {
        source: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        /// The order's `date_modified_gmt`.
        version: String,
        status: String,
    },
    /// Nothing for the tenant, and why.
    Skipped { reason: String },
    /// A delivery to the tenant is under way.
    Queued { event: String },
    /// One delivery attempt: the tenant's HTTP status (none when it could not be reached) and
    /// how long it took.
    #[serde(rename_all = "camelCase")]
    Attempt {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        latency_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The tenant accepted the delivery.
    Synced { event: String },
    /// The delivery was refused or ran out of retries.
    Failed { error: String },
    /// An operator asked for the order again (`resend`) or for a failed one (`retry`).
    #[serde(rename_all = "camelCase")]
    Requested { action: String, by: String },
}

/// Entries as stored: one attribute, each entry a short JSON array (epoch milliseconds, a
/// one-letter kind, the step's values in a fixed order) to keep the order record near 1 KB
/// (one write unit): `[1764502790909,"a",503,41,"tenant answered 503"]`.
pub fn encode(entries: &[Entry]) -> String {
    let rows: Vec<serde_json::Value> = entries.iter().map(row).collect();
    serde_json::Value::Array(rows).to_string()
}

fn row(e: &Entry) -> serde_json::Value {
    use serde_json::json;
    let t = e.at.timestamp_millis();
    match &e.step {
        Step::Received {
            source,
            topic,
            version,
            status,
        } => json!([t, "r", source, topic, version, status]),
        Step::Skipped { reason } => json!([t, "k", reason]),
        Step::Queued { event } => json!([t, "q", event]),
        Step::Attempt {
            status,
            latency_ms,
            error,
        } => json!([t, "a", status, latency_ms, error]),
        Step::Synced { event } => json!([t, "s", event]),
        Step::Failed { error } => json!([t, "f", error]),
        Step::Requested { action, by } => json!([t, "x", action, by]),
    }
}

fn unrow(v: &serde_json::Value) -> Option<Entry> {
    let a = v.as_array()?;
    let at = DateTime::from_timestamp_millis(a.first()?.as_i64()?)?;
    let text = |i: usize| a.get(i).and_then(|x| x.as_str()).map(str::to_owned);
    let step = match a.get(1)?.as_str()? {
        "r" => Step::Received {
            source: text(2)?,
            topic: text(3),
            version: text(4)?,
            status: text(5)?,
        },
        "k" => Step::Skipped { reason: text(2)? },
        "q" => Step::Queued { event: text(2)? },
        "a" => Step::Attempt {
            status: a
                .get(2)
                .and_then(|x| x.as_u64())
                .and_then(|n| u16::try_from(n).ok()),
            latency_ms: a.get(3)?.as_u64()?,
            error: text(4),
        },
        "s" => Step::Synced { event: text(2)? },
        "f" => Step::Failed { error: text(2)? },
        "x" => Step::Requested {
            action: text(2)?,
            by: text(3)?,
        },
        _ => return None,
    };
    Some(Entry { at, step })
}

/// Entries as read back; an unreadable history (or entry) is dropped rather than failing the
/// order.
pub fn decode(stored: Option<&str>) -> Vec<Entry> {
    stored
        .and_then(|s| serde_json::from_str::<Vec<serde_json::Value>>(s).ok())
        .map(|rows| rows.iter().filter_map(unrow).collect())
        .unwrap_or_default()
}

/// Adds `step` at `at`, then keeps the history within its bounds: entries older than
/// `retention` go, and beyond [`MAX_ENTRIES`] the oldest after the first go. Returns how many
/// were dropped for length (to add to the record's count).
pub fn append(entries: &mut Vec<Entry>, at: DateTime<Utc>, step: Step, retention: Duration) -> u32 {
    entries.push(Entry { at, step });
    let horizon = at - retention;
    entries.retain(|e| e.at >= horizon);
    let mut dropped = 0;
    while entries.len() > MAX_ENTRIES {
        entries.remove(1);
        dropped += 1;
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_000_000 + s, 0).unwrap()
    }

    #[test]
    fn entries_read_back_as_written_in_their_documented_shape() {
        let entries = vec![
            Entry {
                at: t(0),
                step: Step::Received {
                    source: "webhook".into(),
                    topic: Some("order.created".into()),
                    version: "2026-11-23T10:00:00".into(),
                    status: "processing".into(),
                },
            },
            Entry {
                at: t(1),
                step: Step::Attempt {
                    status: Some(503),
                    latency_ms: 42,
                    error: Some("tenant answered 503".into()),
                },
            },
            Entry {
                at: t(2),
                step: Step::Requested {
                    action: "resend".into(),
                    by: "tk_1".into(),
                },
            },
        ];
        let stored = encode(&entries);
        assert_eq!(decode(Some(&stored)), entries, "{stored}");
        assert_eq!(
            stored,
            r#"[[1764000000000,"r","webhook","order.created","2026-11-23T10:00:00","processing"],[1764000001000,"a",503,42,"tenant answered 503"],[1764000002000,"x","resend","tk_1"]]"#
        );
        // The API's shape (serde): named fields, a `kind`.
        let json = serde_json::to_value(&entries).unwrap();
        assert_eq!(json[0]["kind"], "received");
        assert_eq!(json[0]["topic"], "order.created");
        assert_eq!(json[1]["kind"], "attempt");
        assert_eq!(json[1]["latencyMs"], 42);
        assert_eq!(json[2]["action"], "resend");
        assert!(decode(Some("not json")).is_empty());
        assert!(decode(None).is_empty());
        assert_eq!(
            decode(Some(
                r#"[[1764000000000,"?"],[1764000000000,"s","order.created"]]"#
            ))
            .len(),
            1,
            "an entry it cannot read is left out, the others kept"
        );
    }

    #[test]
    fn history_keeps_its_first_entry_and_the_latest_within_bounds() {
        let mut entries = Vec::new();
        let mut dropped = 0;
        for i in 0..100 {
            dropped += append(
                &mut entries,
                t(i),
                Step::Skipped {
                    reason: format!("r{i}"),
                },
                Duration::days(90),
            );
        }
        assert_eq!(entries.len(), MAX_ENTRIES);
        assert_eq!(dropped, 100 - MAX_ENTRIES as u32);
        assert_eq!(entries[0].at, t(0), "the first entry stays");
        assert_eq!(entries[1].at, t(100 - MAX_ENTRIES as i64 + 1));
        assert_eq!(entries.last().unwrap().at, t(99));

        // Past the retention period, even the first goes.
        append(
            &mut entries,
            t(91 * 86_400),
            Step::Synced {
                event: "order.updated".into(),
            },
            Duration::days(90),
        );
        assert_eq!(entries.len(), 1);
    }
}
