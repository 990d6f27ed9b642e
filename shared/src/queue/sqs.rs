//! SQS adapter of the queue port. The only module that knows SQS's API.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

use super::{Queue, Received};
use crate::error::{Error, Result};

fn sqs_error<E>(e: aws_sdk_sqs::error::SdkError<E>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    Error::unavailable("the queue", format!("sqs: {}", DisplayErrorContext(&e)))
}

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// One `SendMessage`, after `delay` (at most 15 minutes) and in a fairness `group` when
    /// given.
    async fn send_one(
        &self,
        body: String,
        delay: Option<Duration>,
        group: Option<&str>,
    ) -> Result<String> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .set_delay_seconds(delay.map(|d| d.min(super::MAX_DELAY).as_secs() as i32))
            .set_message_group_id(group.map(str::to_owned))
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(out.message_id.unwrap_or_default())
    }

    /// `SendMessageBatch`, 10 at a time (in `group` when given); entries SQS reports as
    /// failed are sent once more, one by one.
    async fn send_batches(&self, bodies: Vec<String>, group: Option<&str>) -> Result<()> {
        for chunk in bodies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body.clone())
                        .set_message_group_id(group.map(str::to_owned))
                        .build()
                        .map_err(|e| Error::internal(e.to_string()))
                })
                .collect::<Result<Vec<_>>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_error)?;
            for failed in out.failed() {
                if let Some(body) = failed.id().parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    self.send_one(body.clone(), None, group).await?;
                }
            }
        }
        Ok(())
    }

    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates a queue with a dead-letter queue after `max_receives` receives (tests and the
    /// local runner's `--aws` mode; deployed stacks get theirs from the SAM template).
    /// Returns (queue URL, DLQ URL).
    pub async fn create_with_dlq(
        client: &Client,
        name: &str,
        visibility: Duration,
        max_receives: u32,
    ) -> Result<(String, String)> {
        let dlq_url = client
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .attributes(QueueAttributeName::MaximumMessageSize, "1048576")
            .send()
            .await
            .map_err(sqs_error)?
            .queue_url
            .unwrap_or_default();
        let url =
            Self::create_redriving_to(client, name, visibility, max_receives, &dlq_url).await?;
        Ok((url, dlq_url))
    }

    /// Creates (or finds) the queue `name` whose messages go to the existing `dlq_url` after
    /// `max_receives` receives; returns its URL.
    pub async fn create_redriving_to(
        client: &Client,
        name: &str,
        visibility: Duration,
        max_receives: u32,
        dlq_url: &str,
    ) -> Result<String> {
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(sqs_error)?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default();
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": max_receives.to_string(),
        })
        .to_string();
        Ok(client
            .create_queue()
            .queue_name(name)
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                visibility.as_secs().to_string(),
            )
            .attributes(QueueAttributeName::MaximumMessageSize, "1048576")
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .map_err(sqs_error)?
            .queue_url
            .unwrap_or_default())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: String) -> Result<String> {
        self.send_one(body, None, None).await
    }

    async fn send_grouped(&self, body: String, group: &str) -> Result<String> {
        self.send_one(body, None, Some(group)).await
    }

    async fn send_delayed(&self, body: String, delay: Duration) -> Result<String> {
        self.send_one(body, Some(delay), None).await
    }

    async fn send_delayed_grouped(
        &self,
        body: String,
        delay: Duration,
        group: &str,
    ) -> Result<String> {
        self.send_one(body, Some(delay), Some(group)).await
    }

    async fn send_many(&self, bodies: Vec<String>) -> Result<()> {
        self.send_batches(bodies, None).await
    }

    async fn send_many_grouped(&self, bodies: Vec<String>, group: &str) -> Result<()> {
        self.send_batches(bodies, Some(group)).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                receive_count: m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
                message_id: m.message_id.unwrap_or_default(),
                receipt: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn delete(&self, receipts: &[String]) -> Result<()> {
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .map_err(|e| Error::internal(e.to_string()))
                })
                .collect::<Result<Vec<_>>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_error)?;
            if !out.failed.is_empty() {
                return Err(Error::unavailable(
                    "the queue",
                    format!("{} deletes failed", out.failed.len()),
                ));
            }
        }
        Ok(())
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(timeout.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }

    async fn depth(&self) -> Result<(u64, u64)> {
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(sqs_error)?
            .attributes
            .unwrap_or_default();
        let n = |k: QueueAttributeName| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                + n(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        ))
    }
}
