//! The in-container caches (links, tenants, product weights): entries live for a fixed time,
//! and a miss is loaded once per key — callers that miss the same key at the same time wait
//! for that one read instead of each making their own (no stampede when an entry expires
//! under concurrent requests or a batch of records).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bound on entries before expired ones are swept.
const SWEEP_AT: usize = 10_000;

pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
    loading: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The entry, if it is younger than the time to live.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > SWEEP_AT {
                let ttl = self.ttl;
                entries.retain(|_, (at, _)| at.elapsed() < ttl);
            }
            entries.insert(key, (Instant::now(), value));
        }
    }

    /// Drops an entry (it changed in this process).
    pub fn forget(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    /// The entry, or what `load` returns for it (kept when it is `Ok`). Concurrent misses of
    /// one key share a single `load`.
    pub async fn get_or_load<E, F, Fut>(&self, key: &K, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let gate = match self.loading.lock() {
            Ok(mut loading) => loading.entry(key.clone()).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let held = gate.lock().await;
        // Another caller may have loaded it while this one waited.
        let result = match self.get(key) {
            Some(v) => Ok(v),
            None => {
                let loaded = load().await;
                if let Ok(v) = &loaded {
                    self.put(key.clone(), v.clone());
                }
                loaded
            }
        };
        drop(held);
        if let Ok(mut loading) = self.loading.lock() {
            // The map's and this caller's handles: nobody else is waiting on this gate.
            if loading
                .get(key)
                .is_some_and(|g| Arc::ptr_eq(g, &gate) && Arc::strong_count(&gate) == 2)
            {
                loading.remove(key);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_load_once() {
        let cache: Arc<TtlCache<&str, u32>> = Arc::new(TtlCache::new(Duration::from_millis(200)));
        let loads = Arc::new(AtomicUsize::new(0));
        let round = || async {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (cache, loads) = (cache.clone(), loads.clone());
                    tokio::spawn(async move {
                        cache
                            .get_or_load(&"st_1", || async {
                                loads.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                Ok::<u32, ()>(7)
                            })
                            .await
                    })
                })
                .collect();
            for t in tasks {
                assert_eq!(t.await.unwrap(), Ok(7));
            }
        };
        round().await;
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one read for 16 misses");
        round().await;
        assert_eq!(
            loads.load(Ordering::SeqCst),
            1,
            "fresh entries are not reloaded"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        round().await;
        assert_eq!(
            loads.load(Ordering::SeqCst),
            2,
            "an expired entry is loaded again once"
        );
        assert!(
            cache.loading.lock().unwrap().is_empty(),
            "no gate left behind"
        );
    }

    #[tokio::test]
    async fn failed_loads_are_not_kept() {
        let cache: TtlCache<&str, u32> = TtlCache::new(Duration::from_secs(60));
        assert_eq!(
            cache.get_or_load(&"k", || async { Err("down") }).await,
            Err("down")
        );
        assert_eq!(
            cache
                .get_or_load(&"k", || async { Ok::<u32, &str>(1) })
                .await,
            Ok(1)
        );
        cache.forget(&"k");
        assert_eq!(cache.get(&"k"), None);
    }
}
