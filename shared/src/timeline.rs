//! An order's history as woolink lived it: what came in, what was decided, each delivery
//! attempt, and what the tenant's operators did. Kept on the order's own record (so it costs no
//! write of its own), at most [`MAX_ENTRIES`] entries, none older than the retention period.

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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// Entries as stored: compact JSON, one attribute.
pub fn encode(entries: &[Entry]) -> String {
    serde_json::to_string(entries).unwrap_or_else(|_| "[]".to_owned())
}

/// Entries as read back; an unreadable history is dropped rather than failing the order.
pub fn decode(stored: Option<&str>) -> Vec<Entry> {
    stored
        .and_then(|s| serde_json::from_str(s).ok())
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
        assert_eq!(decode(Some(&stored)), entries);
        let json: serde_json::Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(json[0]["kind"], "received");
        assert_eq!(json[0]["topic"], "order.created");
        assert_eq!(json[1]["kind"], "attempt");
        assert_eq!(json[1]["latencyMs"], 42);
        assert_eq!(json[2]["action"], "resend");
        assert!(decode(Some("not json")).is_empty());
        assert!(decode(None).is_empty());
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
