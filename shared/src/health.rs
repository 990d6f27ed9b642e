//! A store's health in a fixed number of reads: counters moved with every order write that
//! changes an order's state, ten-minute buckets of delivery lag and
//! recoveries, and the overall verdict with its reasons. Pure: the adapters store what this
//! computes.

use chrono::{DateTime, Duration, Utc};

use crate::model::{OrderSync, SyncState};

/// Per store, how many orders woolink has seen and where they stand now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreTally {
    /// Orders ever recorded (a record's first write).
    pub received: i64,
    pub skipped: i64,
    pub queued: i64,
    pub synced: i64,
    pub failed: i64,
    /// When the newest order version that came by webhook was received.
    pub last_webhook_at: Option<DateTime<Utc>>,
    /// When woolink first recorded its newest order.
    pub last_order_at: Option<DateTime<Utc>>,
    /// When the tenant last accepted an order.
    pub last_synced_at: Option<DateTime<Utc>>,
}

impl StoreTally {
    /// Counter shards added up (the latest of each time).
    pub fn sum(shards: &[StoreTally]) -> Self {
        shards.iter().fold(Self::default(), |mut t, s| {
            t.received += s.received;
            t.skipped += s.skipped;
            t.queued += s.queued;
            t.synced += s.synced;
            t.failed += s.failed;
            t.last_webhook_at = t.last_webhook_at.max(s.last_webhook_at);
            t.last_order_at = t.last_order_at.max(s.last_order_at);
            t.last_synced_at = t.last_synced_at.max(s.last_synced_at);
            t
        })
    }

    /// The change applied to these counters (what the memory adapter does; DynamoDB does the
    /// same with `ADD`/`SET` in the order's write).
    pub fn apply(&mut self, change: &TallyChange) {
        if change.new_order {
            self.received += 1;
        }
        if let Some(from) = change.from {
            *self.slot(from) -= 1;
        }
        *self.slot(change.to) += 1;
        if change.webhook_at.is_some() {
            self.last_webhook_at = change.webhook_at;
        }
        if change.order_at.is_some() {
            self.last_order_at = change.order_at;
        }
        if change.synced_at.is_some() {
            self.last_synced_at = change.synced_at;
        }
    }

    fn slot(&mut self, state: SyncState) -> &mut i64 {
        match state {
            SyncState::Skipped => &mut self.skipped,
            SyncState::Queued => &mut self.queued,
            SyncState::Synced => &mut self.synced,
            SyncState::Failed => &mut self.failed,
        }
    }
}

/// What one order write moves in its store's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TallyChange {
    pub new_order: bool,
    pub from: Option<SyncState>,
    pub to: SyncState,
    pub webhook_at: Option<DateTime<Utc>>,
    pub order_at: Option<DateTime<Utc>>,
    pub synced_at: Option<DateTime<Utc>>,
}

/// What a record counts as: its state, except a first attempt in flight (queued, never tried),
/// which is not counted apart: a delivery goes from its previous count straight to `synced` in
/// one counter write, and only one waiting for a retry counts as `queued`. `None`: nothing.
pub fn counted_as(sync: &OrderSync) -> Option<SyncState> {
    if sync.state == SyncState::Queued && sync.attempts == 0 {
        sync.counted
    } else {
        Some(sync.state)
    }
}

/// The counters' change for writing `sync`, or `None` when what it counts as stays (claims,
/// waiting marks, expiries, a delivery in flight move no counter).
pub fn tally_change(sync: &OrderSync) -> Option<TallyChange> {
    let to = counted_as(sync)?;
    if sync.counted == Some(to) {
        return None;
    }
    let new_order = sync.counted.is_none();
    let webhook_at = sync
        .source
        .is_webhook()
        .then(|| sync.received_at.as_deref().and_then(parse_time))
        .flatten();
    Some(TallyChange {
        new_order,
        from: sync.counted,
        to,
        webhook_at,
        order_at: new_order.then_some(sync.created_at),
        synced_at: (sync.state == SyncState::Synced)
            .then_some(sync.synced_at)
            .flatten(),
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Upper bounds (milliseconds) of the delivery-lag histogram's bins; the last bin is open.
pub const LAG_BOUNDS_MS: [u64; 17] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000,
    1_800_000, 3_600_000, 21_600_000,
];
pub const LAG_BINS: usize = LAG_BOUNDS_MS.len() + 1;

/// How long one bucket lasts, and how long buckets are kept.
pub const BUCKET_SECONDS: i64 = 600;
pub const BUCKETS_KEPT: Duration = Duration::hours(25);

pub fn lag_bin(lag_ms: u64) -> usize {
    LAG_BOUNDS_MS
        .iter()
        .position(|&b| lag_ms <= b)
        .unwrap_or(LAG_BOUNDS_MS.len())
}

/// The start (epoch seconds) of the bucket `at` falls in.
pub fn bucket_start(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(BUCKET_SECONDS) * BUCKET_SECONDS
}

/// What one order write adds to its store's current bucket: a delivery's lag (from the
/// webhook's receipt to the tenant's acceptance), or an order the poll recovered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub bucket: i64,
    pub lag_bin: Option<usize>,
    pub recovered: bool,
}

/// A webhook's delivery lag, milliseconds: from woolink's receipt of the version to this
/// record's last change (the tenant's acceptance, when it is synced). `None` for a version
/// read from the store (a backfill's or the poll's lag is not a webhook's).
pub fn webhook_lag_ms(sync: &OrderSync) -> Option<u64> {
    let received = sync.received_at.as_deref().and_then(parse_time)?;
    let lag = (sync.updated_at - received).num_milliseconds().max(0) as u64;
    sync.source.is_webhook().then_some(lag)
}

pub fn sample_of(sync: &OrderSync) -> Option<Sample> {
    let synced_now = sync.state == SyncState::Synced && sync.synced_at == Some(sync.updated_at);
    let lag_bin = synced_now
        .then(|| webhook_lag_ms(sync).map(lag_bin))
        .flatten();
    let recovered = sync.state == SyncState::Queued && sync.recovered_at == Some(sync.updated_at);
    (lag_bin.is_some() || recovered).then(|| Sample {
        bucket: bucket_start(sync.updated_at),
        lag_bin,
        recovered,
    })
}

/// Ten minutes of one store's deliveries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub start: i64,
    pub lag: [u64; LAG_BINS],
    pub recovered: u64,
}

impl Bucket {
    pub fn empty(start: i64) -> Self {
        Self {
            start,
            lag: [0; LAG_BINS],
            recovered: 0,
        }
    }

    pub fn add(&mut self, sample: &Sample) {
        if let Some(bin) = sample.lag_bin {
            self.lag[bin] += 1;
        }
        if sample.recovered {
            self.recovered += 1;
        }
    }
}

/// Delivery lag over a window: how many deliveries, and the bins' upper bounds at p50 and p99
/// (`None` above the last bound).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lag {
    pub deliveries: u64,
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

pub fn lag_over(buckets: &[Bucket], since: DateTime<Utc>) -> Option<Lag> {
    let from = bucket_start(since);
    let mut bins = [0u64; LAG_BINS];
    for b in buckets.iter().filter(|b| b.start >= from) {
        for (sum, n) in bins.iter_mut().zip(b.lag) {
            *sum += n;
        }
    }
    let total: u64 = bins.iter().sum();
    if total == 0 {
        return None;
    }
    let at = |q: f64| {
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in bins.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return LAG_BOUNDS_MS.get(i).copied();
            }
        }
        None
    };
    Some(Lag {
        deliveries: total,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

pub fn recovered_since(buckets: &[Bucket], since: DateTime<Utc>) -> u64 {
    let from = bucket_start(since);
    buckets
        .iter()
        .filter(|b| b.start >= from)
        .map(|b| b.recovered)
        .sum()
}

/// The overall verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overall {
    Healthy,
    Degraded,
    AttentionNeeded,
}

impl Overall {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::AttentionNeeded => "attention_needed",
        }
    }
}

/// The facts the verdict is drawn from.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub connected: bool,
    pub paused: bool,
    pub keys_refused: Option<String>,
    pub webhooks_failing: bool,
    pub webhooks_repaired: bool,
    pub failed_orders: i64,
    pub lag_p99_ms: Option<Option<u64>>,
    pub recovered_24h: u64,
    pub reconciliation_error: Option<String>,
}

/// Beyond this, deliveries are slow enough to say so.
pub const SLOW_P99_MS: u64 = 300_000;

/// The verdict and each reason for it, worst first. A reason is a code and a sentence.
pub fn verdict(f: &Facts) -> (Overall, Vec<(&'static str, String)>) {
    let mut attention = Vec::new();
    let mut degraded = Vec::new();
    if !f.connected {
        attention.push(("disconnected", "the store is not connected".to_owned()));
    }
    if let Some(why) = &f.keys_refused {
        attention.push((
            "keys_refused",
            format!("the store refused woolink's keys: {why}"),
        ));
    }
    if f.webhooks_failing {
        attention.push((
            "webhooks_failing",
            "woolink's webhooks in the store could not be repaired".to_owned(),
        ));
    }
    if f.failed_orders > 0 {
        attention.push((
            "failed_orders",
            format!(
                "{} order(s) failed and wait in the dead-letter queue",
                f.failed_orders
            ),
        ));
    }
    if f.paused {
        degraded.push((
            "paused",
            "deliveries are paused; orders are held until resumed".to_owned(),
        ));
    }
    match f.lag_p99_ms {
        Some(None) => degraded.push((
            "slow_deliveries",
            "delivery lag p99 over the last hour is above 6 hours".to_owned(),
        )),
        Some(Some(ms)) if ms > SLOW_P99_MS => degraded.push((
            "slow_deliveries",
            format!(
                "delivery lag p99 over the last hour is up to {} s",
                ms / 1000
            ),
        )),
        _ => {}
    }
    if f.recovered_24h > 0 {
        degraded.push((
            "webhooks_missed",
            format!(
                "the reconciliation poll recovered {} order(s) webhooks missed in 24 h",
                f.recovered_24h
            ),
        ));
    }
    if f.webhooks_repaired {
        degraded.push((
            "webhooks_repaired",
            "woolink's webhooks had to be repaired in the store".to_owned(),
        ));
    }
    if let Some(e) = &f.reconciliation_error {
        degraded.push(("reconciliation_error", format!("the last poll failed: {e}")));
    }
    let overall = if !attention.is_empty() {
        Overall::AttentionNeeded
    } else if !degraded.is_empty() {
        Overall::Degraded
    } else {
        Overall::Healthy
    };
    attention.extend(degraded);
    (overall, attention)
}

/// Which of a store's orders to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderQuery {
    /// `Some`: the orders now in that state, most recently changed first, back to `since`;
    /// `None`: every order, newest order id first.
    pub state: Option<SyncState>,
    pub since: Option<DateTime<Utc>>,
    pub limit: usize,
    pub after: Option<After>,
}

/// Where a page ends (the next page starts past it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum After {
    /// The index position of the last order listed by state.
    Changed(String),
    /// The last order id listed without a state.
    Order(u64),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderPage {
    pub orders: Vec<OrderSync>,
    pub next: Option<After>,
}

/// Where an order is listed (the sparse `orderState` index): what it counts as
/// (`counted_as`), since the write that last moved it there. A first attempt in flight leaves
/// the entry where it was, as it leaves the counters: the order is listed as what it was
/// before until the attempt's outcome, so a delivery moves its index entry once, not twice.
/// `None`: not listed (skipped orders, and a new order before its first outcome).
pub fn listing(sync: &OrderSync) -> Option<(SyncState, DateTime<Utc>)> {
    let state = counted_as(sync).filter(|s| indexed(*s))?;
    let in_flight = sync.state == SyncState::Queued && sync.attempts == 0;
    let at = match sync.listed_at {
        Some(at) if in_flight => at,
        _ => sync.updated_at,
    };
    Some((state, at))
}

/// The position of an order in its list: since when it is listed there (fixed width, so text
/// order is time order), then its id.
pub fn changed_key(sync: &OrderSync) -> String {
    let at = listing(sync).map_or(sync.updated_at, |(_, at)| at);
    format!(
        "{}#{:020}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        sync.order_id.get()
    )
}

/// The time in a stored `changed_key`.
pub fn changed_at(key: &str) -> Option<DateTime<Utc>> {
    let (at, _) = key.split_once('#')?;
    parse_time(at)
}

/// The first position at or after `since`.
pub fn since_key(since: DateTime<Utc>) -> String {
    since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// States that are listed by state (skipped orders are not indexed: they are most of a
/// store's orders and nobody acts on them).
pub fn indexed(state: SyncState) -> bool {
    state != SyncState::Skipped
}

/// An opaque cursor for API callers: `text`, base64url.
pub fn cursor(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// A cursor's text back (`None` for anything [`cursor`] did not make: too long, not base64url,
/// not UTF-8); what the text must look like is the caller's check.
pub fn cursor_text(cursor: &str) -> Option<String> {
    use base64::Engine;
    if cursor.len() > 200 {
        return None;
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(raw).ok()
}

impl After {
    /// The opaque cursor handed to API callers.
    pub fn encode(&self) -> String {
        cursor(&match self {
            Self::Changed(k) => format!("c:{k}"),
            Self::Order(id) => format!("o:{id}"),
        })
    }

    /// A cursor back, checked: only what [`After::encode`] makes is accepted.
    pub fn decode(cursor: &str) -> Option<Self> {
        let raw = cursor_text(cursor)?;
        if let Some(id) = raw.strip_prefix("o:") {
            return id.parse().ok().map(Self::Order);
        }
        let key = raw.strip_prefix("c:")?;
        let (at, id) = key.split_once('#')?;
        let well_formed = DateTime::parse_from_rfc3339(at).is_ok()
            && at.len() == 24
            && id.len() == 20
            && id.bytes().all(|b| b.is_ascii_digit());
        well_formed.then(|| Self::Changed(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderId, StoreId};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_000_000 + s, 0).unwrap()
    }

    fn record() -> OrderSync {
        OrderSync::first(StoreId::parse("st_1").unwrap(), OrderId::new(7), t(0))
    }

    #[test]
    fn a_new_record_counts_once_and_moves_between_states() {
        let mut tally = StoreTally::default();
        let mut o = record();
        o.state = SyncState::Queued;
        o.received_at = Some("2026-11-24T16:00:00.5Z".into());
        assert_eq!(
            tally_change(&o),
            None,
            "a first attempt in flight is not counted"
        );
        o.attempts = 1;
        tally.apply(&tally_change(&o).unwrap());
        o.counted = counted_as(&o);
        assert_eq!(tally.queued, 1, "waiting for a retry");
        assert_eq!(tally_change(&o), None, "a claim or a mark moves nothing");
        o.state = SyncState::Synced;
        tally.apply(&tally_change(&o).unwrap());
        o.counted = counted_as(&o);
        assert_eq!(
            (tally.received, tally.queued, tally.synced, tally.failed),
            (1, 0, 1, 0)
        );
        // An update: synced, in flight (still counted as synced), synced again: no change.
        o.state = SyncState::Queued;
        o.attempts = 0;
        assert_eq!(tally_change(&o), None);
        o.state = SyncState::Synced;
        assert_eq!(tally_change(&o), None);
        assert_eq!(tally.last_order_at, Some(t(0)));
        assert!(tally.last_webhook_at.is_some());
    }

    #[test]
    fn lag_is_sampled_when_an_order_becomes_synced() {
        let mut o = record();
        o.state = SyncState::Synced;
        o.updated_at = t(2);
        o.synced_at = Some(t(2));
        o.received_at = Some(t(0).to_rfc3339());
        let s = sample_of(&o).unwrap();
        assert_eq!(s.lag_bin, Some(lag_bin(2_000)));
        assert_eq!(LAG_BOUNDS_MS[s.lag_bin.unwrap()], 2_500);
        o.source = crate::envelope::Source::Backfill;
        assert_eq!(sample_of(&o), None, "a backfill's lag is not a webhook's");
    }

    #[test]
    fn percentiles_come_from_the_bins() {
        let mut b = Bucket::empty(bucket_start(t(0)));
        for ms in (0..99).map(|_| 40) {
            b.lag[lag_bin(ms)] += 1;
        }
        b.lag[lag_bin(20_000)] += 1;
        let lag = lag_over(&[b.clone()], t(0)).unwrap();
        assert_eq!(lag.deliveries, 100);
        assert_eq!(lag.p50_ms, Some(50));
        assert_eq!(lag.p99_ms, Some(50));
        b.lag[lag_bin(20_000)] += 1;
        assert_eq!(lag_over(&[b.clone()], t(0)).unwrap().p99_ms, Some(30_000));
        assert_eq!(
            lag_over(&[b], t(BUCKET_SECONDS)),
            None,
            "older buckets are out"
        );
    }

    #[test]
    fn a_delivery_moves_its_listing_once_at_the_outcome() {
        // A new order's claim: not listed yet.
        let mut o = record();
        o.state = SyncState::Queued;
        o.updated_at = t(1);
        assert_eq!(listing(&o), None);
        // Its outcome: listed as synced from then.
        o.state = SyncState::Synced;
        o.attempts = 1;
        o.updated_at = t(2);
        assert_eq!(listing(&o), Some((SyncState::Synced, t(2))));
        o.counted = counted_as(&o);
        o.listed_at = Some(t(2));
        let synced_key = changed_key(&o);
        // An update's claim (a first attempt in flight): still where it was.
        o.state = SyncState::Queued;
        o.attempts = 0;
        o.updated_at = t(3);
        assert_eq!(listing(&o), Some((SyncState::Synced, t(2))));
        assert_eq!(
            changed_key(&o),
            synced_key,
            "the index entry is not written"
        );
        // Its outcome moves it; a failed attempt lists it as queued (waiting for a retry).
        let mut failed = o.clone();
        o.state = SyncState::Synced;
        o.attempts = 1;
        o.updated_at = t(4);
        assert_eq!(listing(&o), Some((SyncState::Synced, t(4))));
        failed.attempts = 1;
        failed.updated_at = t(4);
        assert_eq!(listing(&failed), Some((SyncState::Queued, t(4))));
        // Skipped orders are not listed.
        o.state = SyncState::Skipped;
        assert_eq!(listing(&o), None);
        assert_eq!(changed_at(&synced_key), Some(t(2)));
    }

    #[test]
    fn cursors_round_trip_and_nothing_else_is_accepted() {
        let mut o = record();
        o.updated_at = t(5);
        for after in [After::Order(42), After::Changed(changed_key(&o))] {
            assert_eq!(After::decode(&after.encode()), Some(after));
        }
        use base64::Engine;
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        for bad in [
            "".to_owned(),
            "!!".to_owned(),
            enc("o:-1"),
            enc("x:1"),
            enc("c:2026-11-24T16:00:00Z#1"),
            enc("c:yesterday#00000000000000000001"),
            "A".repeat(500),
        ] {
            assert_eq!(After::decode(&bad), None, "{bad}");
        }
    }

    #[test]
    fn the_verdict_names_every_reason_worst_first() {
        let fine = Facts {
            connected: true,
            ..Facts::default()
        };
        assert_eq!(verdict(&fine), (Overall::Healthy, vec![]));
        let slow = Facts {
            lag_p99_ms: Some(Some(900_000)),
            ..fine.clone()
        };
        assert_eq!(verdict(&slow).0, Overall::Degraded);
        let both = Facts {
            failed_orders: 2,
            ..slow
        };
        let (overall, reasons) = verdict(&both);
        assert_eq!(overall, Overall::AttentionNeeded);
        assert_eq!(
            reasons.iter().map(|r| r.0).collect::<Vec<_>>(),
            ["failed_orders", "slow_deliveries"]
        );
    }
}
