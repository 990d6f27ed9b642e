//! The sync worker's Lambda adapter: an SQS event in, the ids of the records that must come
//! back out (`ReportBatchItemFailures`). The use case (`Worker::handle_batch`) sees the queue's
//! own `Received` messages, never Lambda's types; the local runner feeds it the same way.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::queue::Received;
use crate::worker::Worker;

/// Handles one event: every record, concurrently; only the failed ones are reported.
pub async fn handle(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    response(worker.handle_batch(&received(event)).await)
}

/// The sync-worker function's two consumers: the orders queue's worker and, when the stack
/// has a slow lane, the slow lane's, each event going to the one of the queue it came from
/// (one event source mapping per queue, so an event's records share their queue).
pub struct Lanes {
    main: Worker,
    /// The slow lane's queue name (the last part of its URL and of its ARN) and its worker.
    slow: Option<(String, Worker)>,
}

impl Lanes {
    pub fn new(main: Worker, slow: Option<(&str, Worker)>) -> Self {
        let slow = slow.map(|(url, worker)| {
            let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or(url);
            (name.to_owned(), worker)
        });
        Self { main, slow }
    }

    /// The worker for an event: the slow lane's when its records come from the slow lane.
    pub fn for_event(&self, event: &SqsEvent) -> &Worker {
        match &self.slow {
            Some((name, worker)) if comes_from(event, name) => worker,
            _ => &self.main,
        }
    }

    /// Handles one event with the worker of the queue it came from.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let worker = self.for_event(&event);
        handle(worker, event).await
    }
}

/// Whether the event's records come from the queue named `name` (the last part of its ARN).
fn comes_from(event: &SqsEvent, name: &str) -> bool {
    event
        .records
        .first()
        .and_then(|r| r.event_source_arn.as_deref())
        .is_some_and(|arn| arn.rsplit(':').next() == Some(name))
}

/// The event's records as received messages. A record without a body becomes an empty one
/// (which does not decode, so it comes back until the dead-letter queue takes it).
pub fn received(event: SqsEvent) -> Vec<Received> {
    event
        .records
        .into_iter()
        .map(|r| Received {
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            message_id: r.message_id.unwrap_or_default(),
            receipt: r.receipt_handle.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect()
}

/// The partial-batch answer naming the messages that must come back.
pub fn response(failed: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An SQS event as Lambda's event source sends it.
    const EVENT: &str = include_str!("../../tests/fixtures/sqs/orders-batch.json");

    #[test]
    fn records_become_received_messages() {
        let event: SqsEvent = serde_json::from_str(EVENT).unwrap();
        let got = received(event);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].message_id, "059f36b4-87a3-44ab-83d2-661975830a7d");
        assert!(got[0].receipt.starts_with("AQEBwJnKyrHigUMZ"));
        assert_eq!(got[0].receive_count, 1);
        assert!(got[0].body.starts_with("{\"v\":1,\"kind\":\"woo.order\""));
        assert_eq!(got[1].receive_count, 3);
        assert_eq!(got[1].body, "{\"v\":1,\"kind\":\"woo.order\",\"trunc");
    }

    #[test]
    fn an_event_is_told_by_its_source_queue() {
        let event: SqsEvent = serde_json::from_str(EVENT).unwrap();
        assert!(comes_from(&event, "woolink-OrdersQueue"));
        assert!(!comes_from(&event, "woolink-OrdersSlowLaneQueue"));
        assert!(
            !comes_from(&event, "OrdersQueue"),
            "the whole name, not a suffix"
        );
        let lane = EVENT.replace(
            "arn:aws:sqs:us-east-1:123456789012:woolink-OrdersQueue",
            "arn:aws:sqs:us-east-1:123456789012:woolink-OrdersSlowLaneQueue-1AB2",
        );
        let event: SqsEvent = serde_json::from_str(&lane).unwrap();
        assert!(comes_from(&event, "woolink-OrdersSlowLaneQueue-1AB2"));
        assert!(!comes_from(&SqsEvent::default(), "woolink-OrdersQueue"));
    }

    #[test]
    fn a_record_without_count_or_body_is_a_first_receive_of_nothing() {
        let event: SqsEvent = serde_json::from_str(
            r#"{"Records": [{"messageId": "m1", "receiptHandle": "r1", "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs"}]}"#,
        )
        .unwrap();
        let got = received(event);
        assert_eq!((got[0].receive_count, got[0].body.as_str()), (1, ""));
    }

    #[test]
    fn the_answer_names_only_the_failed_records() {
        let json = serde_json::to_value(response(vec!["m2".into()])).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m2"}]})
        );
        let none = serde_json::to_value(response(Vec::new())).unwrap();
        assert_eq!(none, serde_json::json!({"batchItemFailures": []}));
    }
}
