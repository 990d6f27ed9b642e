//! A worker instance's view of each tenant's endpoint: whether its deliveries may go on here.
//!
//! A Lambda invocation lasts as long as its slowest record, so one tenant answering in 10 s
//! holds every batch it appears in, and with it the instance that would take the next batch
//! of everyone else's orders. So in the orders queue's worker (the main lane) a delivery gets
//! `slow_after` to be answered: one that takes longer is cut short and trips its tenant's gate
//! at once; one that alone holds its batch for `linger` after the rest is done (a straggler)
//! is cut short too and counts as a failure; `trip_after` failures in a row trip the gate.
//! A call alone in its batch, or a batch of one slow tenant's calls, has no rest to be told
//! from: once the instance knows how long its calls usually take (`Straggler::usual`, from
//! its recent good answers), `linger` after that usual time makes them stragglers too. A
//! tenant that has answered on this instance is never a straggler before its own usual time
//! (`Straggler::own`), so one slower than the others but steady is not cut for being
//! itself; and the first call after an open period (the probe) is cut at `slow_after` only,
//! so such a tenant, cut and tripped before it ever answered here, answers the probe.
//! A call cut short may have been accepted: its outcome is unknown, so the order's record
//! holds it unsettled (no other version of the order is planned on what the tenant has) and
//! the message goes on in the slow lane holding its claim, where the same `webhook-id` gets
//! the client's whole timeout and settles it (`crate::decide::held`).
//!
//! While the gate is open (an open period that doubles per trip in a row) the tenant's
//! messages go to the slow lane, a queue of their own with its own few worker instances. In
//! the slow lane only failures count, and a tripped tenant's messages are parked there (sent
//! back with the open period as delay, no receive counted) instead of spending their retries
//! on an endpoint that is down; a message parked for `hold_max` in all is tried whatever the
//! gate says, so the dead-letter queue still takes what never goes through.
//!
//! Per instance, in memory: each instance learns from its own deliveries (one slow answer or
//! three failures), and nothing is written per delivery.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::domain::TenantCode;

/// What a message sent on as a new one carries (nothing, until it is): the receives it
/// spent before (so moving it to the slow lane or parking it does not renew its retries),
/// when it was first parked, and the claim it holds on its order (the first message's id,
/// so that it is still the message holding the order wherever it goes: it takes over at once
/// and a resend keeps its `webhook-id`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Moves {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub receives_before: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Moves {
    /// How long the message has been parked in all.
    pub fn held_for(&self, now: chrono::DateTime<chrono::Utc>) -> Duration {
        self.held_since
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .and_then(|t| (now - t.with_timezone(&chrono::Utc)).to_std().ok())
            .unwrap_or_default()
    }
}

/// Which queue a worker consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// The orders queue: every tenant, until its gate trips.
    Main,
    /// The slow lane: tenants whose endpoints were slow or failing in the main lane.
    Slow,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Slow => "slow",
        }
    }
}

/// The gate's knobs; defaults match the SAM template.
#[derive(Clone, Debug)]
pub struct GateSettings {
    /// Failed deliveries in a row that trip a tenant's gate (0: the gate never trips).
    pub trip_after: u32,
    /// In the main lane, how long a delivery may take: one cut short at it (or an answer that
    /// took longer) trips the gate at once.
    pub slow_after: Duration,
    /// In the main lane, how long a delivery may hold its batch once every other record of
    /// the batch is done (a straggler): cut short at it, it counts as a failure.
    pub linger: Duration,
    /// The first open period; it doubles per trip in a row, up to `open_max`.
    pub open_base: Duration,
    pub open_max: Duration,
    /// Each open period is this share longer or shorter, at random per instance, so the
    /// instances that tripped together do not all try the tenant again at once.
    pub jitter: f64,
    /// How long a message may be parked in all before it is tried whatever the gate says.
    pub hold_max: Duration,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            trip_after: 3,
            slow_after: Duration::from_secs(2),
            linger: Duration::from_millis(200),
            open_base: Duration::from_secs(30),
            open_max: Duration::from_secs(900),
            jitter: 0.25,
            hold_max: Duration::from_secs(3600),
        }
    }
}

impl GateSettings {
    /// The open period after `trips` trips in a row: 30 s, 60 s, 120 s… up to `open_max`.
    pub fn open_for(&self, trips: u32) -> Duration {
        let exp = trips.saturating_sub(1).min(16);
        self.open_base.saturating_mul(1 << exp).min(self.open_max)
    }
}

/// One batch's records as they go, so that a delivery holding the batch alone can be told
/// (main lane): the batch is *held* when every record is either done or waiting on a tenant,
/// and either one of them is done or the batch has taken longer than this instance's calls
/// usually take (`Straggler::usual`): a batch of one slow call, or of a slow tenant's calls
/// only, is told from the others' answers too.
pub struct BatchClock {
    total: usize,
    started: tokio::time::Instant,
    done: std::sync::atomic::AtomicUsize,
    calling: std::sync::atomic::AtomicUsize,
}

impl BatchClock {
    pub fn new(total: usize) -> Self {
        Self {
            total,
            started: tokio::time::Instant::now(),
            done: Default::default(),
            calling: Default::default(),
        }
    }

    /// A record of the batch is done.
    pub fn done(&self) {
        self.done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// A record waits on a tenant until the guard drops.
    pub fn calling(&self) -> CallGuard<'_> {
        self.calling
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        CallGuard(self)
    }

    fn held(&self, usual: Option<Duration>) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        let done = self.done.load(SeqCst);
        let overdue = usual.is_some_and(|u| self.started.elapsed() >= u);
        (done >= 1 || overdue) && done + self.calling.load(SeqCst) >= self.total
    }

    /// Returns once the batch has been held by calls alone for `linger` in a row, the call
    /// waiting on it judged by `by` (`TenantGate::straggler`).
    pub async fn held_for(&self, linger: Duration, by: Straggler) {
        let call = tokio::time::Instant::now();
        let tick = (linger / 10).max(Duration::from_millis(5));
        let mut held = Duration::ZERO;
        loop {
            tokio::time::sleep(tick).await;
            let own_passed = by.own.is_none_or(|o| call.elapsed() >= o);
            held = if own_passed && self.held(by.usual) {
                held + tick
            } else {
                Duration::ZERO
            };
            if held >= linger {
                return;
            }
        }
    }
}

/// Counts a call as waiting on its tenant while it lives.
pub struct CallGuard<'a>(&'a BatchClock);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.0
            .calling
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How a delivery to a tenant went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// A timeout, a 5xx, a 429 or no connection (a refusal is the order's problem, not the
    /// endpoint's).
    pub failed: bool,
    /// How long it took, answered or not.
    pub took: Duration,
}

/// What a call is measured against to tell a straggler (`TenantGate::straggler`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Straggler {
    /// How long this instance's calls usually take (`None`: not known yet, and a batch with
    /// nothing done is then never held).
    pub usual: Option<Duration>,
    /// How long the call's own tenant usually takes here, when known: the call is not a
    /// straggler before (a tenant slower than the others but steady is not cut for being
    /// itself).
    pub own: Option<Duration>,
}

/// How many of an instance's recent good answers `Straggler::usual` looks at, and how many it
/// needs before it says anything; how many of one tenant's `Straggler::own` looks at.
const USUAL_OF: usize = 32;
const USUAL_AFTER: usize = 4;
const OWN_USUAL_OF: usize = 8;

/// An instance's recent good answers in the main lane: all of them, and by tenant.
#[derive(Default)]
struct Answers {
    all: std::collections::VecDeque<Duration>,
    by_tenant: HashMap<TenantCode, std::collections::VecDeque<Duration>>,
}

fn keep(window: &mut std::collections::VecDeque<Duration>, took: Duration, of: usize) {
    if window.len() == of {
        window.pop_front();
    }
    window.push_back(took);
}

/// The 90th percentile of `window` (`None` when it has fewer than `after`).
fn p90(window: &std::collections::VecDeque<Duration>, after: usize) -> Option<Duration> {
    if window.len() < after.max(1) {
        return None;
    }
    let mut sorted: Vec<Duration> = window.iter().copied().collect();
    sorted.sort();
    Some(sorted[(sorted.len() * 9).div_ceil(10).max(1) - 1])
}

#[derive(Default)]
struct Strikes {
    in_a_row: u32,
    trips: u32,
    open_until: Option<Instant>,
}

/// The tenants' gates of one worker instance.
pub struct TenantGate {
    settings: GateSettings,
    lane: Lane,
    tenants: Mutex<HashMap<TenantCode, Strikes>>,
    /// The durations of this instance's last good answers in the main lane.
    answers: Mutex<Answers>,
    /// This instance's randomness for the jitter.
    dice: std::collections::hash_map::RandomState,
}

impl TenantGate {
    pub fn new(lane: Lane, settings: GateSettings) -> Self {
        Self {
            settings,
            lane,
            tenants: Mutex::new(HashMap::new()),
            answers: Mutex::new(Answers::default()),
            dice: Default::default(),
        }
    }

    pub fn lane(&self) -> Lane {
        self.lane
    }

    /// `open` made up to `jitter` longer or shorter, by this instance's dice.
    fn jittered(&self, open: Duration, tenant: &TenantCode, trips: u32) -> Duration {
        use std::hash::BuildHasher;
        let jitter = self.settings.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return open;
        }
        let roll = self.dice.hash_one((tenant, trips)) as f64 / u64::MAX as f64;
        open.mul_f64(1.0 - jitter + 2.0 * jitter * roll)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantCode, Strikes>> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a call to `tenant` is measured against to tell a straggler, `None` when it must
    /// not be cut as one: the probe after an open period (its gate tripped and the period is
    /// over with no good answer since) is cut at `slow_after` only, so a tenant slower than
    /// the others but steady, cut and tripped before it ever answered here, answers it and
    /// closes its gate (and has a usual time of its own from then on).
    pub fn straggler(&self, tenant: &TenantCode) -> Option<Straggler> {
        self.straggler_at(tenant, Instant::now())
    }

    fn straggler_at(&self, tenant: &TenantCode, now: Instant) -> Option<Straggler> {
        let probe = self
            .lock()
            .get(tenant)
            .is_some_and(|s| s.open_until.is_some_and(|u| u <= now));
        if probe {
            return None;
        }
        let answers = self.answers();
        Some(Straggler {
            usual: p90(&answers.all, USUAL_AFTER),
            own: answers.by_tenant.get(tenant).and_then(|w| p90(w, 1)),
        })
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note_good(&self, tenant: &TenantCode, took: Duration) {
        let mut answers = self.answers();
        keep(&mut answers.all, took, USUAL_OF);
        let own = answers.by_tenant.entry(tenant.clone()).or_default();
        keep(own, took, OWN_USUAL_OF);
    }

    /// How much longer the tenant's gate stays open (its messages go elsewhere); `None` while
    /// its deliveries may go on here.
    pub fn open(&self, tenant: &TenantCode) -> Option<Duration> {
        self.open_at(tenant, Instant::now())
    }

    fn open_at(&self, tenant: &TenantCode, now: Instant) -> Option<Duration> {
        let tenants = self.lock();
        let until = tenants.get(tenant)?.open_until?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Notes how a delivery went; returns the open period when this one tripped the gate.
    pub fn record(&self, tenant: &TenantCode, answer: Answer) -> Option<Duration> {
        self.record_at(tenant, answer, Instant::now())
    }

    fn record_at(&self, tenant: &TenantCode, answer: Answer, now: Instant) -> Option<Duration> {
        if self.settings.trip_after == 0 {
            return None;
        }
        let too_slow = self.lane == Lane::Main && answer.took >= self.settings.slow_after;
        let good = !answer.failed && !too_slow;
        if good && self.lane == Lane::Main {
            self.note_good(tenant, answer.took);
        }
        let mut tenants = self.lock();
        if good {
            // A good answer closes the gate and forgets the trips.
            tenants.remove(tenant);
            return None;
        }
        let s = tenants.entry(tenant.clone()).or_default();
        if s.open_until.is_some_and(|u| u > now) {
            // Deliveries that started before the trip: they change nothing.
            return None;
        }
        s.in_a_row += 1;
        if s.in_a_row < self.settings.trip_after && !too_slow {
            return None;
        }
        s.in_a_row = 0;
        s.trips += 1;
        let open = self.jittered(self.settings.open_for(s.trips), tenant, s.trips);
        s.open_until = Some(now + open);
        Some(open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> TenantCode {
        TenantCode::parse("ACME").unwrap()
    }

    fn gate(lane: Lane) -> TenantGate {
        TenantGate::new(
            lane,
            GateSettings {
                jitter: 0.0,
                ..GateSettings::default()
            },
        )
    }

    const FAILED: Answer = Answer {
        failed: true,
        took: Duration::from_millis(20),
    };

    fn answered(ms: u64) -> Answer {
        Answer {
            failed: false,
            took: Duration::from_millis(ms),
        }
    }

    #[test]
    fn three_failures_in_a_row_trip_it_and_the_period_doubles() {
        let g = gate(Lane::Main);
        let t0 = Instant::now();
        assert_eq!(g.record_at(&acme(), FAILED, t0), None);
        assert_eq!(g.record_at(&acme(), FAILED, t0), None);
        assert_eq!(g.open_at(&acme(), t0), None);
        assert_eq!(
            g.record_at(&acme(), FAILED, t0),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            g.open_at(&acme(), t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(20))
        );
        // Failures of deliveries already under way while it is open change nothing.
        assert_eq!(
            g.record_at(&acme(), FAILED, t0 + Duration::from_secs(1)),
            None
        );
        let later = t0 + Duration::from_secs(31);
        assert_eq!(g.open_at(&acme(), later), None, "open for 30 s only");
        for _ in 0..2 {
            assert_eq!(g.record_at(&acme(), FAILED, later), None);
        }
        assert_eq!(
            g.record_at(&acme(), FAILED, later),
            Some(Duration::from_secs(60)),
            "a second trip in a row doubles the period"
        );
    }

    #[test]
    fn a_good_answer_resets_it_and_other_tenants_are_apart() {
        let g = gate(Lane::Main);
        let t0 = Instant::now();
        let other = TenantCode::parse("OTHER").unwrap();
        g.record_at(&acme(), FAILED, t0);
        g.record_at(&acme(), FAILED, t0);
        g.record_at(&acme(), answered(80), t0);
        assert_eq!(g.record_at(&acme(), FAILED, t0), None);
        for _ in 0..3 {
            g.record_at(&other, FAILED, t0);
        }
        assert!(g.open_at(&other, t0).is_some());
        assert_eq!(g.open_at(&acme(), t0), None);
    }

    #[test]
    fn one_answer_too_slow_trips_the_main_lane_only() {
        let main = gate(Lane::Main);
        let lane = gate(Lane::Slow);
        let t0 = Instant::now();
        assert_eq!(main.record_at(&acme(), answered(1_900), t0), None);
        assert_eq!(
            main.record_at(&acme(), answered(2_000), t0),
            Some(Duration::from_secs(30)),
            "cut short at slow_after: tripped at once"
        );
        let cut_off = Answer {
            failed: true,
            took: Duration::from_secs(2),
        };
        for _ in 0..5 {
            assert_eq!(lane.record_at(&acme(), answered(10_000), t0), None);
        }
        assert_eq!(lane.record_at(&acme(), cut_off, t0), None);
        assert_eq!(
            lane.open_at(&acme(), t0),
            None,
            "slow is what the slow lane is for"
        );
    }

    #[test]
    fn zero_strikes_means_never() {
        let g = TenantGate::new(
            Lane::Main,
            GateSettings {
                trip_after: 0,
                ..GateSettings::default()
            },
        );
        for _ in 0..50 {
            assert_eq!(g.record(&acme(), FAILED), None);
        }
        assert_eq!(g.open(&acme()), None);
    }

    #[test]
    fn instances_tripped_together_reopen_apart() {
        let t0 = Instant::now();
        let opens: Vec<Duration> = (0..20)
            .map(|_| {
                let g = TenantGate::new(Lane::Main, GateSettings::default());
                (0..3)
                    .find_map(|_| g.record_at(&acme(), FAILED, t0))
                    .expect("tripped")
            })
            .collect();
        assert!(opens
            .iter()
            .all(|o| *o >= Duration::from_millis(22_500) && *o <= Duration::from_millis(37_500)));
        let distinct: std::collections::HashSet<_> = opens.iter().collect();
        assert!(distinct.len() > 10, "{opens:?}");
    }

    /// How long `clock` took to be held for `linger`, the call judged `by` (`None`: not
    /// within 5 s).
    async fn held_after(clock: &BatchClock, linger: Duration, by: Straggler) -> Option<Duration> {
        let started = tokio::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(5), clock.held_for(linger, by))
            .await
            .ok()
            .map(|()| started.elapsed())
    }

    /// What a call to `tenant` is judged by now (it must not be a probe).
    fn by(g: &TenantGate, tenant: &TenantCode) -> Straggler {
        g.straggler_at(tenant, Instant::now()).expect("not a probe")
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_is_held_when_only_calls_are_left() {
        let linger = ms(200);
        let clock = BatchClock::new(3);
        let _a = clock.calling();
        let unknown = Straggler::default();
        // Nothing done yet (an evenly slow batch) and no usual answer time known: never held.
        let b = clock.calling();
        assert_eq!(held_after(&clock, linger, unknown).await, None);
        drop(b);
        // One done, one calling, one doing something else (reading the store): not held.
        clock.done();
        assert_eq!(held_after(&clock, linger, unknown).await, None);
        // The third done too: the last call holds the batch alone.
        clock.done();
        assert!(held_after(&clock, linger, unknown)
            .await
            .is_some_and(|at| at >= linger));
    }

    #[tokio::test(start_paused = true)]
    async fn calls_alone_in_their_batch_are_held_past_the_usual_answer_time() {
        let linger = ms(200);
        let usual = Straggler {
            usual: Some(ms(50)),
            own: None,
        };
        // (Times to the clock's tick, 20 ms.)
        let near = |at: Option<Duration>, want: u64| {
            at.is_some_and(|at| at >= ms(want - 20) && at <= ms(want + 20))
        };
        // One call, nothing else in the batch: held from 50 ms, so cut at 250 ms.
        let one = BatchClock::new(1);
        let _call = one.calling();
        let at = held_after(&one, linger, usual).await;
        assert!(near(at, 250), "{at:?}");
        // Every record of a batch on calls (a slow tenant's batch): the same.
        let all = BatchClock::new(2);
        let (_a, _b) = (all.calling(), all.calling());
        let at = held_after(&all, linger, usual).await;
        assert!(near(at, 250), "{at:?}");
        // A tenant whose own calls usually take 500 ms: held from 500 ms, cut at 700 ms.
        let own = BatchClock::new(1);
        let _call = own.calling();
        let steady = Straggler {
            own: Some(ms(500)),
            ..usual
        };
        let at = held_after(&own, linger, steady).await;
        assert!(near(at, 700), "{at:?}");
        // A record still doing something else (reading the store) is not a call: not held.
        let busy = BatchClock::new(2);
        let _c = busy.calling();
        assert_eq!(held_after(&busy, linger, usual).await, None);
    }

    #[test]
    fn the_usual_answer_time_is_the_recent_good_answers_90th_percentile() {
        let main = gate(Lane::Main);
        let t0 = Instant::now();
        for ms in [20, 21, 22] {
            main.record_at(&acme(), answered(ms), t0);
        }
        assert_eq!(by(&main, &acme()).usual, None, "not before four answers");
        // Failures and answers too slow for the main lane say nothing of the usual time.
        main.record_at(&acme(), FAILED, t0);
        main.record_at(&acme(), answered(2_500), t0);
        assert_eq!(by(&main, &acme()).usual, None);
        main.record_at(&acme(), answered(23), t0);
        assert_eq!(by(&main, &acme()).usual, Some(ms(23)));
        // Any tenant's answers count; only the last 32 do.
        let other = TenantCode::parse("OTHER").unwrap();
        for _ in 0..4 {
            main.record_at(&other, answered(400), t0);
        }
        assert_eq!(
            by(&main, &acme()).usual,
            Some(ms(400)),
            "8 answers, p90 is the 8th"
        );
        for _ in 0..32 {
            main.record_at(&other, answered(30), t0);
        }
        assert_eq!(by(&main, &acme()).usual, Some(ms(30)));
        // Each tenant's own usual time, from its first good answer.
        assert_eq!(by(&main, &other).own, Some(ms(30)));
        assert_eq!(by(&main, &acme()).own, Some(ms(23)));
        assert_eq!(by(&main, &TenantCode::parse("NEW").unwrap()).own, None);
        // The slow lane cuts nothing short, and keeps no usual time.
        let lane = gate(Lane::Slow);
        for _ in 0..10 {
            lane.record_at(&acme(), answered(20), t0);
        }
        assert_eq!(by(&lane, &acme()), Straggler::default());
    }

    #[test]
    fn the_first_call_after_an_open_period_is_a_probe_until_answered() {
        let g = gate(Lane::Main);
        let t0 = Instant::now();
        let probe = |at| g.straggler_at(&acme(), at).is_none();
        assert!(!probe(t0), "never tripped");
        for _ in 0..3 {
            g.record_at(&acme(), FAILED, t0);
        }
        assert!(!probe(t0), "open: its messages go elsewhere");
        let later = t0 + Duration::from_secs(31);
        assert!(probe(later));
        // One failure after the period does not trip again, and it is still a probe.
        g.record_at(&acme(), FAILED, later);
        assert!(probe(later));
        // A good answer closes the gate: no probe any more.
        g.record_at(&acme(), answered(400), later);
        assert!(!probe(later));
        assert_eq!(by(&g, &acme()).own, Some(ms(400)));
    }

    #[test]
    fn the_period_is_capped() {
        let s = GateSettings::default();
        assert_eq!(s.open_for(1), Duration::from_secs(30));
        assert_eq!(s.open_for(6), Duration::from_secs(900));
        assert_eq!(s.open_for(60), Duration::from_secs(900));
    }
}
