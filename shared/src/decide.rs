//! The order-state rules: what one received version of an order does to the order's record.
//!
//! Pure (no I/O, no clock of its own), so every rule is a unit test below. WooCommerce's
//! `date_modified_gmt` is not a version on its own: it has 1-second resolution and, with
//! classic order storage, does not move when only an address or meta changes. So a version is
//! placed by its timestamp first and, between different bodies with the same timestamp, by
//! reading the order from the store when woolink can (the store's answer is the truth at that
//! moment), or else by when woolink received each body (WooCommerce builds a body when it
//! sends it). The same body twice is a replay; a different body is never one.

use std::cmp::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{OrderVersion, TenantEvent, TriggerStatus};
use crate::model::{OrderSync, SyncState};
use crate::order::is_cancelled;

/// Where a version sits in an order's history: its `OrderVersion`, then when woolink received
/// it (RFC 3339, microseconds, `Z`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VersionKey {
    pub modified: OrderVersion,
    pub received: String,
}

impl VersionKey {
    /// The key of the version a record holds (records from before `received_at` existed sort
    /// below any received version with the same timestamp).
    pub fn of(record: &OrderSync) -> Self {
        Self {
            modified: record.version.clone(),
            received: record.received_at.clone().unwrap_or_default(),
        }
    }

    /// One string for a record's `waiting` attribute; `decode` reads it back.
    pub fn encode(&self) -> String {
        format!("{}|{}", self.modified, self.received)
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let (modified, received) = raw.split_once('|')?;
        Some(Self {
            modified: OrderVersion::stored(modified.to_owned()),
            received: received.to_owned(),
        })
    }
}

/// One received version of an order, as the rules see it.
#[derive(Clone, Debug)]
pub struct Incoming<'a> {
    pub key: VersionKey,
    /// SHA-256 of the body (the webhook's, or the store's answer: WooCommerce sends the REST
    /// resource byte for byte in both).
    pub content: &'a str,
    pub status: &'a str,
    /// The body was read from the store just now (or the store cannot say more): it is not
    /// read again.
    pub settled: bool,
    /// The body carries only the order's id (`order.deleted`): the store says what became of
    /// the order when it can be read.
    pub only_id: bool,
    /// The body carries its own `date_modified_gmt` (else its version is when it came).
    pub timestamped: bool,
    /// An earlier body of this same receive was in a trigger status (kept across a store read,
    /// so an order that passed through a trigger status is never lost).
    pub entered_scope: bool,
}

/// What the rules need to know besides the record and the version.
#[derive(Clone, Debug)]
pub struct Rules<'a> {
    pub triggers: &'a [TriggerStatus],
    /// The link holds WooCommerce keys and the store answered so far.
    pub can_read_store: bool,
    /// The queue message this is (its claim on the order while delivering it).
    pub claim: &'a str,
    pub now: DateTime<Utc>,
    /// How long a `queued` record counts as being delivered by another worker.
    pub in_flight_window: Duration,
}

/// What to do with a received version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A replay, an older version, or one a newer waiting version makes obsolete.
    Ignore(&'static str),
    /// Another delivery holds the order (`Hold` says how): wait for it, then judge again.
    Wait(Hold),
    /// Which body is newer cannot be told from the bodies: read the order from the store.
    ReadStore(&'static str),
    /// Apply the version. `newest: false` only for an older version that brings the order
    /// into scope when the store cannot be read: its document is delivered, but the record
    /// keeps its newer version.
    Apply { in_scope: bool, newest: bool },
}

/// What a version waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Another message is delivering the order right now (seconds).
    Delivering,
    /// An attempt whose outcome is unknown (`OrderSync::unsettled`), settled only when a
    /// message with its body is answered: a retry on the backoff schedule, not seconds.
    Unsettled,
}

/// Whether the order is in one of the link's trigger statuses.
pub fn is_trigger(triggers: &[TriggerStatus], status: &str) -> bool {
    triggers.iter().any(|t| t.as_str() == status)
}

/// Judges one received version against the order's record (`None`: never seen).
pub fn judge(existing: Option<&OrderSync>, incoming: &Incoming<'_>, rules: &Rules<'_>) -> Verdict {
    if incoming.only_id && rules.can_read_store && !incoming.settled {
        return Verdict::ReadStore("the body carries only the id");
    }
    // A body without a timestamp is placed by when it came, so a replay of one would always
    // look newest: when the store cannot say otherwise, a body already applied is a replay.
    let seen_before = existing.is_some_and(|e| e.replay_guard.as_deref() == Some(incoming.content));
    if !incoming.timestamped && !rules.can_read_store && seen_before {
        return Verdict::Ignore("a replay of a body without a timestamp");
    }
    let triggered = incoming.entered_scope || is_trigger(rules.triggers, incoming.status);
    let Some(e) = existing else {
        return Verdict::Apply {
            in_scope: triggered,
            newest: true,
        };
    };
    let in_scope = e.in_scope || triggered;
    let enters_scope = in_scope && !e.in_scope;
    let current = VersionKey::of(e);
    let same_content = e.content_hash.as_deref() == Some(incoming.content);
    let can_read = rules.can_read_store && !incoming.settled;
    let order = if incoming.key.modified != current.modified {
        incoming.key.modified.cmp(&current.modified)
    } else if same_content {
        Ordering::Equal
    } else if can_read {
        return Verdict::ReadStore("the same timestamp with another body");
    } else {
        // A settled body is the newest known; otherwise the later receipt is the later body.
        match incoming.key.received.cmp(&current.received) {
            Ordering::Less if !incoming.settled => Ordering::Less,
            _ => Ordering::Greater,
        }
    };
    match order {
        Ordering::Less if enters_scope && can_read => {
            return Verdict::ReadStore("an older version in a trigger status");
        }
        // Never delivered (it was out of scope), so nothing is in flight to wait for.
        Ordering::Less if enters_scope => {
            return Verdict::Apply {
                in_scope: true,
                newest: false,
            }
        }
        Ordering::Less => return Verdict::Ignore("an older version"),
        Ordering::Equal
            if !enters_scope && matches!(e.state, SyncState::Synced | SyncState::Skipped) =>
        {
            return Verdict::Ignore("a replay");
        }
        // The same version still pending (a retry or a redrive), or a newer one.
        Ordering::Equal | Ordering::Greater => {}
    }
    let newer_waits = e
        .waiting
        .as_deref()
        .and_then(VersionKey::decode)
        .is_some_and(|w| w > incoming.key);
    // The same body as an attempt whose outcome is unknown: sent again (the same
    // `webhook-id`), it settles what the tenant has, which the newer version waits on. Any
    // message with that body may (the claim's own, a duplicate, a redrive from the dead-letter
    // queue): two of them at once send the tenant one id twice, which it deduplicates.
    let settles = order == Ordering::Equal && same_content && unsettled(e);
    if newer_waits && !settles {
        return Verdict::Ignore("a newer version is waiting to be delivered");
    }
    if settles {
        return Verdict::Apply {
            in_scope,
            newest: true,
        };
    }
    if let Some(hold) = held(e, rules.claim, rules.now, rules.in_flight_window) {
        return Verdict::Wait(hold);
    }
    Verdict::Apply {
        in_scope,
        newest: true,
    }
}

/// How long an unsettled attempt holds its order against other versions: the queue's
/// retention (4 days), after which no message that could settle it is left.
pub const UNSETTLED_HOLD: Duration = Duration::from_secs(4 * 24 * 3600);

/// Whether another message than `claim` holds the order, and how: a fresh claim that has not
/// failed (`Delivering`), or an attempt whose outcome is unknown until a message with its body
/// is answered (`Unsettled`). One waiting for a retry after a known failure holds nothing: the
/// next version takes over.
pub fn held(e: &OrderSync, claim: &str, now: DateTime<Utc>, window: Duration) -> Option<Hold> {
    if e.claimed_by.as_deref() == Some(claim) {
        return None;
    }
    let age = (now - e.updated_at).to_std().unwrap_or_default();
    if unsettled(e) {
        (age < UNSETTLED_HOLD).then_some(Hold::Unsettled)
    } else {
        let fresh = e.state == SyncState::Queued && e.last_error.is_none() && age < window;
        fresh.then_some(Hold::Delivering)
    }
}

/// The record's latest attempt has an unknown outcome and nothing newer took the order.
fn unsettled(e: &OrderSync) -> bool {
    e.unsettled && e.state == SyncState::Queued
}

/// What the tenant last heard of an order.
#[derive(Clone, Copy, Debug)]
pub struct Told<'a> {
    /// Shipping hash of the document the tenant accepted (none: never delivered).
    pub delivered_hash: Option<&'a str>,
    /// The tenant's latest accepted event was a cancellation.
    pub cancelled: bool,
}

impl<'a> Told<'a> {
    pub fn of(record: &'a OrderSync) -> Self {
        Self {
            delivered_hash: record.delivered_hash.as_deref(),
            cancelled: record.event == Some(TenantEvent::Cancelled)
                && record.state == SyncState::Synced,
        }
    }
}

/// The event an in-scope order's new document calls for, if any: `order.created` the first
/// time, `order.updated` when its shipping hash changed (or it came back from a cancellation),
/// `order.cancelled` once when it is cancelled after a delivery. A meta-only save changes no
/// shipping field, so it calls for nothing.
pub fn event_for(told: Told<'_>, status: &str, shipping_hash: &str) -> Option<TenantEvent> {
    let delivered = told.delivered_hash.is_some();
    if is_cancelled(status) {
        (delivered && !told.cancelled).then_some(TenantEvent::Cancelled)
    } else if !delivered {
        Some(TenantEvent::Created)
    } else if told.delivered_hash != Some(shipping_hash) || told.cancelled {
        Some(TenantEvent::Updated)
    } else {
        None
    }
}

/// The event a tenant's resend delivers, whatever the tenant already has: `order.created` if
/// it never accepted the order, `order.cancelled` for a cancelled one, else `order.updated`.
pub fn resend_event(told: Told<'_>, status: &str) -> TenantEvent {
    if told.delivered_hash.is_none() {
        TenantEvent::Created
    } else if is_cancelled(status) {
        TenantEvent::Cancelled
    } else {
        TenantEvent::Updated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderId, StoreId};

    const T0: &str = "2026-11-23T10:00:00.000";
    const T1: &str = "2026-11-23T10:00:01.000";
    const R0: &str = "2026-11-23T10:00:00.100000Z";
    const R1: &str = "2026-11-23T10:00:00.200000Z";

    fn record(state: SyncState, version: &str, received: &str, content: &str) -> OrderSync {
        OrderSync {
            state,
            woo_status: "processing".into(),
            version: version.into(),
            received_at: Some(received.into()),
            content_hash: Some(content.into()),
            in_scope: state != SyncState::Skipped,
            ..OrderSync::first(StoreId::parse("st_1").unwrap(), OrderId::new(7), Utc::now())
        }
    }

    fn incoming<'a>(
        modified: &str,
        received: &str,
        content: &'a str,
        status: &'a str,
    ) -> Incoming<'a> {
        Incoming {
            key: VersionKey {
                modified: modified.into(),
                received: received.into(),
            },
            content,
            status,
            settled: false,
            only_id: false,
            timestamped: true,
            entered_scope: false,
        }
    }

    fn rules(triggers: &[TriggerStatus], can_read_store: bool) -> Rules<'_> {
        Rules {
            triggers,
            can_read_store,
            claim: "m-me",
            now: Utc::now(),
            in_flight_window: Duration::from_secs(30),
        }
    }

    const APPLY: Verdict = Verdict::Apply {
        in_scope: true,
        newest: true,
    };

    #[test]
    fn the_rules_table() {
        let triggers = TriggerStatus::defaults();
        let processing = |state| record(state, T0, R0, "h0");
        let skipped_pending = || {
            let mut r = record(SyncState::Skipped, T0, R0, "h0");
            r.woo_status = "pending".into();
            r
        };
        let mut claimed = processing(SyncState::Queued);
        claimed.claimed_by = Some("m-other".into());
        let mut stale_claim = claimed.clone();
        stale_claim.updated_at = Utc::now() - chrono::Duration::seconds(60);
        let mut failing_claim = claimed.clone();
        failing_claim.last_error = Some("HTTP 503".into());
        let mut own_claim = claimed.clone();
        own_claim.claimed_by = Some("m-me".into());
        let mut newer_waiting = processing(SyncState::Synced);
        newer_waiting.waiting = Some(
            VersionKey {
                modified: T1.into(),
                received: R1.into(),
            }
            .encode(),
        );
        let settled = |mut i: Incoming<'static>| {
            i.settled = true;
            i
        };
        let only_id = |mut i: Incoming<'static>| {
            i.only_id = true;
            i.timestamped = false;
            i
        };
        let entered = |mut i: Incoming<'static>| {
            i.entered_scope = true;
            i
        };
        // Deleted once ("h9" applied), then restored with a newer timestamp.
        let mut restored = record(SyncState::Synced, T1, R1, "h10");
        restored.replay_guard = Some("h9".into());
        let later = "2026-11-23T11:00:00.000000Z";

        #[rustfmt::skip]
        let table: Vec<(&str, Option<OrderSync>, Incoming<'static>, bool, Verdict)> = vec![
            ("a new order in a trigger status", None, incoming(T0, R0, "h0", "processing"), false, APPLY),
            ("a new pending order is recorded out of scope", None, incoming(T0, R0, "h0", "pending"), false,
                Verdict::Apply { in_scope: false, newest: true }),
            ("the same body again is a replay", Some(processing(SyncState::Synced)), incoming(T0, R1, "h0", "processing"), false,
                Verdict::Ignore("a replay")),
            ("a replay of a skipped order", Some(skipped_pending()), incoming(T0, R1, "h0", "pending"), false,
                Verdict::Ignore("a replay")),
            ("an older timestamp", Some(processing(SyncState::Synced)), incoming("2026-11-23T09:59:59.000", R1, "hx", "processing"), false,
                Verdict::Ignore("an older version")),
            ("a newer timestamp", Some(processing(SyncState::Synced)), incoming(T1, R1, "h1", "processing"), false, APPLY),
            ("same timestamp, another body, keys: read the store", Some(processing(SyncState::Synced)), incoming(T0, R1, "h1", "processing"), true,
                Verdict::ReadStore("the same timestamp with another body")),
            ("same timestamp, another body, no keys, received later: newer", Some(processing(SyncState::Synced)), incoming(T0, R1, "h1", "processing"), false, APPLY),
            ("same timestamp, another body, no keys, received earlier: older", Some(record(SyncState::Synced, T0, R1, "h1")), incoming(T0, R0, "h0", "processing"), false,
                Verdict::Ignore("an older version")),
            ("same timestamp, another body, read from the store: the truth", Some(record(SyncState::Synced, T0, R1, "h1")), settled(incoming(T0, R0, "h2", "processing")), true, APPLY),
            ("pending then processing in one second (no keys)", Some(skipped_pending()), incoming(T0, R1, "h1", "processing"), false, APPLY),
            ("pending then processing in one second (keys)", Some(skipped_pending()), incoming(T0, R1, "h1", "processing"), true,
                Verdict::ReadStore("the same timestamp with another body")),
            ("an older version in a trigger status, keys: read the store", Some(skipped_pending()), incoming("2026-11-23T09:59:59.000", R1, "hx", "processing"), true,
                Verdict::ReadStore("an older version in a trigger status")),
            ("an older version in a trigger status, no keys: delivered, version kept", Some(skipped_pending()), incoming("2026-11-23T09:59:59.000", R1, "hx", "processing"), false,
                Verdict::Apply { in_scope: true, newest: false }),
            ("the store's answer after an older trigger status enters scope", Some(skipped_pending()), entered(settled(incoming(T0, R1, "h0", "pending"))), true, APPLY),
            ("another message delivers right now: wait", Some(claimed.clone()), incoming(T1, R1, "h1", "processing"), false, Verdict::Wait(Hold::Delivering)),
            ("a copy of the version in flight waits too", Some(claimed), incoming(T0, R1, "h0", "processing"), false, Verdict::Wait(Hold::Delivering)),
            ("a stale claim is taken over", Some(stale_claim), incoming(T1, R1, "h1", "processing"), false, APPLY),
            ("a failing delivery is superseded", Some(failing_claim), incoming(T1, R1, "h1", "processing"), false, APPLY),
            ("the claim's own message carries on", Some(own_claim), incoming(T0, R0, "h0", "processing"), false, APPLY),
            ("a version older than one waiting is obsolete", Some(newer_waiting.clone()), incoming(T1, R0, "h5", "processing"), false,
                Verdict::Ignore("a newer version is waiting to be delivered")),
            ("the waiting version itself goes ahead", Some(newer_waiting), incoming(T1, R1, "h6", "processing"), false, APPLY),
            ("a deletion (only the id), keys: read the store", Some(processing(SyncState::Synced)), only_id(incoming(T1, R1, "h9", "trash")), true,
                Verdict::ReadStore("the body carries only the id")),
            ("a deletion, no keys: applied by its receipt second", Some(processing(SyncState::Synced)), only_id(incoming(T1, R1, "h9", "trash")), false, APPLY),
            ("a deletion the store no longer knows (settled): applied", None, settled(only_id(incoming(T1, R1, "h9", "trash"))), true,
                Verdict::Apply { in_scope: false, newest: true }),
            ("a deletion body seen before, no keys: a replay, however late", Some(restored.clone()), only_id(incoming("2026-11-23T11:00:00.000", later, "h9", "trash")), false,
                Verdict::Ignore("a replay of a body without a timestamp")),
            ("a deletion body seen before, keys: the store decides", Some(restored.clone()), only_id(incoming("2026-11-23T11:00:00.000", later, "h9", "trash")), true,
                Verdict::ReadStore("the body carries only the id")),
            ("a deletion body seen before that the store no longer knows: applied", Some(restored), settled(only_id(incoming("2026-11-23T11:00:00.000", later, "h9", "trash"))), true, APPLY),
            ("a draft-free cancelled body is applied", Some(processing(SyncState::Synced)), incoming(T1, R1, "h1", "cancelled"), false, APPLY),
        ];
        for (name, existing, inc, can_read, want) in table {
            let got = judge(existing.as_ref(), &inc, &rules(&triggers, can_read));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn an_unknown_outcome_holds_the_order_until_the_same_body_settles_it() {
        let triggers = TriggerStatus::defaults();
        let r = rules(&triggers, false);
        // Another message's attempt timed out: the tenant may have it.
        let mut unsettled = record(SyncState::Queued, T0, R0, "h0");
        unsettled.claimed_by = Some("m-other".into());
        unsettled.last_error = Some("the tenant did not answer in time".into());
        unsettled.unsettled = true;
        // A known failure (an answer) is not in flight: the next version takes over, as before.
        let mut known = unsettled.clone();
        known.unsettled = false;
        let newer = || incoming(T1, R1, "h1", "processing");
        assert_eq!(judge(Some(&known), &newer(), &r), APPLY);
        assert_eq!(
            judge(Some(&unsettled), &newer(), &r),
            Verdict::Wait(Hold::Unsettled)
        );
        // However long ago, within the queue's retention.
        let mut old = unsettled.clone();
        old.updated_at = Utc::now() - chrono::Duration::hours(30);
        assert_eq!(
            judge(Some(&old), &newer(), &r),
            Verdict::Wait(Hold::Unsettled)
        );
        old.updated_at = Utc::now() - chrono::Duration::days(5);
        assert_eq!(judge(Some(&old), &newer(), &r), APPLY);
        // Given up (failed for good): nothing left to settle it.
        let mut failed = unsettled.clone();
        failed.state = SyncState::Failed;
        assert_eq!(judge(Some(&failed), &newer(), &r), APPLY);
        // The claim's own message (or one carrying its claim) goes again, even with the newer
        // version marked as waiting; a settled record's does not.
        let mut own = unsettled.clone();
        own.claimed_by = Some("m-me".into());
        own.waiting = Some(
            VersionKey {
                modified: T1.into(),
                received: R1.into(),
            }
            .encode(),
        );
        let same = incoming(T0, R0, "h0", "processing");
        assert_eq!(judge(Some(&own), &same, &r), APPLY);
        let mut known_own = own.clone();
        known_own.unsettled = false;
        assert_eq!(
            judge(Some(&known_own), &same, &r),
            Verdict::Ignore("a newer version is waiting to be delivered")
        );
        // Another message with the same body (a duplicate, a redrive that lost the claim) may
        // settle it too: the same webhook-id, which the tenant deduplicates.
        assert_eq!(judge(Some(&unsettled), &same, &r), APPLY);
        // A fresh claim that has not failed is still waited for by a copy of its body.
        let mut live = unsettled.clone();
        live.unsettled = false;
        live.last_error = None;
        assert_eq!(
            judge(Some(&live), &same, &r),
            Verdict::Wait(Hold::Delivering)
        );
    }

    #[test]
    fn events_follow_what_the_tenant_was_told() {
        let never = Told {
            delivered_hash: None,
            cancelled: false,
        };
        let told = Told {
            delivered_hash: Some("a"),
            cancelled: false,
        };
        let cancelled = Told {
            delivered_hash: Some("a"),
            cancelled: true,
        };
        assert_eq!(
            event_for(never, "processing", "a"),
            Some(TenantEvent::Created)
        );
        assert_eq!(event_for(never, "cancelled", "a"), None, "never had it");
        assert_eq!(
            event_for(told, "processing", "a"),
            None,
            "nothing for shipping changed"
        );
        assert_eq!(
            event_for(told, "processing", "b"),
            Some(TenantEvent::Updated)
        );
        assert_eq!(
            event_for(told, "completed", "b"),
            Some(TenantEvent::Updated)
        );
        for s in ["cancelled", "refunded", "failed", "trash"] {
            assert_eq!(event_for(told, s, "b"), Some(TenantEvent::Cancelled));
            assert_eq!(event_for(cancelled, s, "c"), None, "said once");
        }
        assert_eq!(
            event_for(cancelled, "processing", "a"),
            Some(TenantEvent::Updated),
            "restored"
        );
    }

    #[test]
    fn versions_sort_as_text_whatever_their_source() {
        assert_eq!(
            OrderVersion::of_modified("2026-11-23T10:00:00").as_str(),
            T0
        );
        assert_eq!(
            OrderVersion::of_modified("2026-11-23 10:00:01.250Z").as_str(),
            "2026-11-23T10:00:01.250"
        );
        assert_eq!(
            OrderVersion::of_modified("not a time").as_str(),
            "not a time"
        );
        assert!(
            OrderVersion::of_modified("2026-11-23T10:00:00")
                < OrderVersion::of_modified("2026-11-23T10:00:00.5Z")
        );
        assert_eq!(
            OrderVersion::of_receipt("2026-11-23T10:00:00.734512Z").as_str(),
            T0
        );
        let k = VersionKey {
            modified: T0.into(),
            received: R0.into(),
        };
        assert_eq!(VersionKey::decode(&k.encode()), Some(k.clone()));
        assert!(
            k < VersionKey {
                modified: T0.into(),
                received: R1.into()
            }
        );
        assert!(
            VersionKey {
                modified: T0.into(),
                received: String::new()
            } < k,
            "records from before receipt times sort first"
        );
    }

    #[test]
    fn a_resend_is_always_an_event() {
        let never = Told {
            delivered_hash: None,
            cancelled: false,
        };
        let had = Told {
            delivered_hash: Some("h1"),
            cancelled: true,
        };
        assert_eq!(resend_event(never, "processing"), TenantEvent::Created);
        assert_eq!(resend_event(never, "cancelled"), TenantEvent::Created);
        assert_eq!(resend_event(had, "processing"), TenantEvent::Updated);
        assert_eq!(resend_event(had, "cancelled"), TenantEvent::Cancelled);
    }
}
