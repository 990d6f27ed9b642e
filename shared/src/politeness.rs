//! Being polite to stores: one token bucket per store host, shared by every call this process
//! makes to it (backfill, the poll, webhook repair, weight lookups and order reads alike);
//! pauses a store asked for with `Retry-After`; and which stores need their keys in the query
//! string because their host strips the `Authorization` header.
//!
//! The state lives in the process (a Lambda container, the local runner): per container a
//! store sees at most its bucket's rate. Catch-up work for a store runs one job at a time
//! (see `crate::catchup`), so in practice a store sees one catch-up container and the workers
//! that look up weights for its orders.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use rand::Rng;

/// Requests per second and burst allowed to one store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoreRate {
    pub per_second: f64,
    pub burst: f64,
}

impl StoreRate {
    /// The default: 5 requests/s, bursts of 10.
    pub const DEFAULT: Self = Self {
        per_second: 5.0,
        burst: 10.0,
    };

    /// `"5"` or `"5/10"` (per second / burst).
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.trim().splitn(2, '/');
        let per_second: f64 = parts.next()?.trim().parse().ok()?;
        let burst: f64 = match parts.next() {
            Some(b) => b.trim().parse().ok()?,
            None => (per_second * 2.0).max(1.0),
        };
        let sane = |v: f64| v.is_finite() && (0.01..=100_000.0).contains(&v);
        (sane(per_second) && sane(burst) && burst >= 1.0).then_some(Self { per_second, burst })
    }
}

/// Longest `Retry-After` honoured by waiting; a longer one ends the call (the job comes back
/// later instead of holding a function).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

struct Host {
    tokens: f64,
    refilled: Instant,
    paused_until: Option<Instant>,
    query_auth: bool,
}

static HOSTS: LazyLock<Mutex<HashMap<String, Host>>> = LazyLock::new(Default::default);

/// Hosts remembered before idle ones are forgotten.
const MAX_HOSTS: usize = 20_000;

fn hosts() -> MutexGuard<'static, HashMap<String, Host>> {
    HOSTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn entry<'a>(map: &'a mut HashMap<String, Host>, host: &str, rate: StoreRate) -> &'a mut Host {
    if map.len() >= MAX_HOSTS && !map.contains_key(host) {
        // Forget hosts that are idle (their bucket would be full again) and not special.
        let now = Instant::now();
        map.retain(|_, h| {
            h.query_auth
                || h.paused_until.is_some_and(|p| p > now)
                || now.duration_since(h.refilled).as_secs_f64() * rate.per_second < rate.burst
        });
    }
    map.entry(host.to_owned()).or_insert_with(|| Host {
        tokens: rate.burst,
        refilled: Instant::now(),
        paused_until: None,
        query_auth: false,
    })
}

/// Waits until `host` may be called once more at `rate`, and takes that turn.
pub async fn turn(host: &str, rate: StoreRate) {
    loop {
        let wait = {
            let mut map = hosts();
            let h = entry(&mut map, host, rate);
            let now = Instant::now();
            let elapsed = now.duration_since(h.refilled).as_secs_f64();
            h.tokens = (h.tokens + elapsed * rate.per_second).min(rate.burst);
            h.refilled = now;
            match h.paused_until.filter(|p| *p > now) {
                Some(until) => until - now,
                None if h.tokens >= 1.0 => {
                    h.tokens -= 1.0;
                    return;
                }
                None => Duration::from_secs_f64((1.0 - h.tokens) / rate.per_second),
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// `host` asked to be left alone for `delay`: no call of this process reaches it before
/// then (plus up to 20 % jitter, so callers do not return together), and its bucket starts
/// empty.
pub fn pause(host: &str, delay: Duration) {
    let jitter = delay.mul_f64(rand::thread_rng().gen_range(0.0..0.2));
    let mut map = hosts();
    let h = entry(&mut map, host, StoreRate::DEFAULT);
    let until = Instant::now() + delay + jitter;
    h.paused_until = Some(h.paused_until.map_or(until, |p| p.max(until)));
    h.tokens = 0.0;
}

/// Whether `host` takes its keys in the query string (its `Authorization` header is lost).
pub fn uses_query_auth(host: &str) -> bool {
    hosts().get(host).is_some_and(|h| h.query_auth)
}

/// Remembers that `host` strips the `Authorization` header.
pub fn use_query_auth(host: &str) {
    entry(&mut hosts(), host, StoreRate::DEFAULT).query_auth = true;
}

/// `Retry-After` as delta-seconds (WooCommerce and the usual proxies send that form); an
/// HTTP date or nothing is taken as one second.
pub fn retry_after(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_and_without_a_burst() {
        assert_eq!(
            StoreRate::parse("5/10"),
            Some(StoreRate {
                per_second: 5.0,
                burst: 10.0
            })
        );
        assert_eq!(StoreRate::parse("2").map(|r| r.burst), Some(4.0));
        for bad in ["", "x", "0", "-1/3", "5/0", "nan", "1e9"] {
            assert_eq!(StoreRate::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_defaults_to_one() {
        assert_eq!(retry_after(Some(" 7 ")), Duration::from_secs(7));
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::from_secs(1)
        );
        assert_eq!(retry_after(None), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_lets_a_burst_through_then_its_rate() {
        let rate = StoreRate {
            per_second: 5.0,
            burst: 10.0,
        };
        let host = "bucket.test:1";
        let start = tokio::time::Instant::now();
        for _ in 0..10 {
            turn(host, rate).await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(5),
            "the burst waits for nothing"
        );
        for _ in 0..10 {
            turn(host, rate).await;
        }
        // Ten more at 5/s: about two seconds (the clock is tokio's, paused and advanced).
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(1_900), "{took:?}");
    }
}
