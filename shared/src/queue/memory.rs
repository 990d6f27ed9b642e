//! An in-memory queue that behaves like SQS: received messages stay invisible for the
//! visibility timeout and come back unless deleted; after `max_receives` receives a message
//! moves to the dead-letter queue instead of being delivered again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Queue, Received};
use crate::error::{Error, Result};

#[derive(Clone)]
struct Stored {
    id: String,
    body: String,
    receive_count: u32,
}

#[derive(Default)]
struct State {
    ready: VecDeque<Stored>,
    in_flight: HashMap<String, (Stored, Instant)>,
    next: u64,
}

pub struct MemoryQueue {
    state: Mutex<State>,
    arrived: Notify,
    visibility: Duration,
    redrive: Option<(u32, Arc<MemoryQueue>)>,
}

impl MemoryQueue {
    /// A queue without a dead-letter queue (e.g. the DLQ itself).
    pub fn new(visibility: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            arrived: Notify::new(),
            visibility,
            redrive: None,
        }
    }

    /// A queue whose messages move to `dlq` once received `max_receives` times without delete.
    pub fn with_dead_letter(
        visibility: Duration,
        max_receives: u32,
        dlq: Arc<MemoryQueue>,
    ) -> Self {
        Self {
            redrive: Some((max_receives.max(1), dlq)),
            ..Self::new(visibility)
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| Error::internal("memory queue lock poisoned"))
    }

    fn push(&self, body: String) -> Result<String> {
        let id = {
            let mut s = self.lock()?;
            s.next += 1;
            let id = format!("mem-{:016x}", s.next);
            s.ready.push_back(Stored {
                id: id.clone(),
                body,
                receive_count: 0,
            });
            id
        };
        self.arrived.notify_waiters();
        Ok(id)
    }

    /// Returns expired in-flight messages to the queue, or to the DLQ when they have been
    /// received `max_receives` times. Returns the earliest remaining deadline.
    fn reclaim(&self, s: &mut State, now: Instant) -> Result<Option<Instant>> {
        let expired: Vec<String> = s
            .in_flight
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(r, _)| r.clone())
            .collect();
        for receipt in expired {
            if let Some((msg, _)) = s.in_flight.remove(&receipt) {
                match &self.redrive {
                    Some((max, dlq)) if msg.receive_count >= *max => {
                        dlq.push(msg.body)?;
                    }
                    _ => s.ready.push_back(msg),
                }
            }
        }
        Ok(s.in_flight.values().map(|(_, d)| *d).min())
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, body: String) -> Result<String> {
        self.push(body)
    }

    async fn send_delayed(&self, body: String, delay: Duration) -> Result<String> {
        // Held as if in flight, never received: it becomes ready when the delay ends.
        let mut s = self.lock()?;
        s.next += 1;
        let id = format!("mem-{:016x}", s.next);
        let stored = Stored {
            id: id.clone(),
            body,
            receive_count: 0,
        };
        s.in_flight.insert(
            format!("{id}#delayed"),
            (stored, Instant::now() + delay.min(super::MAX_DELAY)),
        );
        Ok(id)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>> {
        let until = Instant::now() + wait;
        loop {
            // Register interest before looking, so a send in between is not missed.
            let notified = self.arrived.notified();
            let next_deadline = {
                let now = Instant::now();
                let mut s = self.lock()?;
                let next_deadline = self.reclaim(&mut s, now)?;
                let mut out = Vec::new();
                while out.len() < max.clamp(1, 10) {
                    let Some(mut msg) = s.ready.pop_front() else {
                        break;
                    };
                    msg.receive_count += 1;
                    s.next += 1;
                    let receipt = format!("{}#{}", msg.id, s.next);
                    out.push(Received {
                        message_id: msg.id.clone(),
                        receipt: receipt.clone(),
                        body: msg.body.clone(),
                        receive_count: msg.receive_count,
                    });
                    s.in_flight.insert(receipt, (msg, now + self.visibility));
                }
                if !out.is_empty() {
                    return Ok(out);
                }
                next_deadline
            };
            let now = Instant::now();
            if now >= until {
                return Ok(Vec::new());
            }
            let wake = next_deadline.map_or(until, |d| d.min(until));
            let _ = tokio::time::timeout_at(wake, notified).await;
        }
    }

    async fn delete(&self, receipts: &[String]) -> Result<()> {
        let mut s = self.lock()?;
        for r in receipts {
            s.in_flight.remove(r);
        }
        Ok(())
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<()> {
        {
            let mut s = self.lock()?;
            if let Some((_, deadline)) = s.in_flight.get_mut(receipt) {
                *deadline = Instant::now() + timeout;
            }
        }
        if timeout.is_zero() {
            self.arrived.notify_waiters();
        }
        Ok(())
    }

    async fn depth(&self) -> Result<(u64, u64)> {
        let mut s = self.lock()?;
        self.reclaim(&mut s, Instant::now())?;
        Ok((s.ready.len() as u64, s.in_flight.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn unacknowledged_messages_return_then_go_to_the_dlq() {
        let dlq = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
        let q = MemoryQueue::with_dead_letter(Duration::from_secs(30), 2, dlq.clone());
        q.send("a".into()).await.unwrap();

        let first = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].receive_count, 1);
        // Invisible while in flight.
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
        assert_eq!(q.depth().await.unwrap(), (0, 1));

        tokio::time::advance(Duration::from_secs(31)).await;
        let second = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(second[0].receive_count, 2);
        assert_eq!(second[0].message_id, first[0].message_id);

        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
        assert_eq!(q.depth().await.unwrap(), (0, 0));
        let dead = dlq.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(dead[0].body, "a");
    }

    #[tokio::test(start_paused = true)]
    async fn deleted_messages_never_return_and_visibility_can_change() {
        let q = MemoryQueue::new(Duration::from_secs(30));
        for b in ["a", "b", "c"] {
            q.send(b.into()).await.unwrap();
        }
        let got = q.receive(2, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 2);
        q.delete(&[got[0].receipt.clone()]).await.unwrap();
        q.change_visibility(&got[1].receipt, Duration::from_secs(5))
            .await
            .unwrap();
        let rest = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].body, "c");
        tokio::time::advance(Duration::from_secs(6)).await;
        let again = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].body, "b");
        assert_eq!(again[0].receive_count, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_delayed_message_appears_when_its_delay_ends() {
        let dlq = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
        let q = MemoryQueue::with_dead_letter(Duration::from_secs(30), 1, dlq.clone());
        q.send_delayed("later".into(), Duration::from_secs(10))
            .await
            .unwrap();
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
        tokio::time::advance(Duration::from_secs(11)).await;
        let got = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!((got[0].body.as_str(), got[0].receive_count), ("later", 1));
        assert!(dlq.receive(10, Duration::ZERO).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_waiting_receive_wakes_on_send() {
        let q = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move { q.receive(10, Duration::from_secs(5)).await.unwrap() })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        q.send("x".into()).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken well before the wait ends")
            .unwrap();
        assert_eq!(got[0].body, "x");
    }
}
