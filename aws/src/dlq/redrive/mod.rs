//! Sending dead letters back to their queue once the cause is fixed.
//!
//! SQS's own message-move task (`StartMessageMoveTask`, followed with
//! `ListMessageMoveTasks`) is the way: SQS moves every message itself, at
//! its own pace, and a dying operator's terminal stops nothing. A server
//! without it (moto 5 answers the action with an HTTP 500 page that is not
//! an AWS error) gets the same result by copy: receive, `SendMessageBatch`
//! to the queue, `DeleteMessageBatch` of exactly the entries that were
//! sent. A message sent but not deleted is then in both queues; the
//! consumer's write of it is idempotent (the item key is the order's id
//! and creation time), so that is a duplicate delivery, never a lost or
//! doubled order.
//!
//! The copy leaves out the consumer's `reason`, `order_id` and
//! `source_message_id` attributes, so a message that fails again carries
//! only the reason of its latest failure; SQS's task keeps every attribute.
//! Standard queues only (a FIFO queue needs a message group per send).
//! The copy is in `copy`.

mod copy;

use super::{DeadLetterQueue, DlqError, failure};
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;
use std::time::{Duration, Instant};

/// How often a running move task is asked how far it got.
const POLL: Duration = Duration::from_millis(500);

/// How to redrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedriveMethod {
    /// SQS's move task; by copy where the server has no such task.
    Auto,
    /// SQS's move task, or fail.
    Task,
    /// By copy, even where the server has the task (a queue SQS will not
    /// run a task for).
    Copy,
}

/// A move task's state, as `ListMessageMoveTasks` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MoveTaskStatus {
    /// Still moving when the redrive stopped waiting; SQS carries on.
    Running,
    Completed,
    Cancelling,
    Cancelled,
    Failed,
}

impl MoveTaskStatus {
    fn parse(s: &str) -> Option<MoveTaskStatus> {
        Some(match s {
            "RUNNING" => MoveTaskStatus::Running,
            "COMPLETED" => MoveTaskStatus::Completed,
            "CANCELLING" => MoveTaskStatus::Cancelling,
            "CANCELLED" => MoveTaskStatus::Cancelled,
            "FAILED" => MoveTaskStatus::Failed,
            _ => return None,
        })
    }
}

/// A message the copy could not send back; it stays in the DLQ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CopyFailure {
    pub message_id: String,
    pub reason: String,
}

/// Which way the messages went back, and how many.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "path", rename_all = "snake_case")]
pub enum RedriveReport {
    /// SQS's message-move task ran.
    MoveTask {
        task_handle: String,
        status: MoveTaskStatus,
        moved: u64,
        /// SQS's estimate of what the task had to move.
        to_move: Option<u64>,
        failure_reason: Option<String>,
    },
    /// Received, sent to the queue, deleted here.
    Copied {
        moved: usize,
        /// Not sent: still in the DLQ, visible again.
        failed: Vec<CopyFailure>,
        /// Sent but not deleted: in both queues (a duplicate delivery).
        not_deleted: Vec<String>,
        /// Why not the move task: the server's answer, or `--method copy`.
        why: String,
        /// The error that stopped the copy before the DLQ was empty.
        stopped: Option<String>,
    },
}

impl RedriveReport {
    /// Every message went back, and nothing is left in flight.
    pub fn complete(&self) -> bool {
        match self {
            RedriveReport::MoveTask { status, .. } => *status == MoveTaskStatus::Completed,
            RedriveReport::Copied {
                failed,
                not_deleted,
                stopped,
                ..
            } => failed.is_empty() && not_deleted.is_empty() && stopped.is_none(),
        }
    }
}

/// Whether an answer to `StartMessageMoveTask` says the server does not
/// know the action (so a copy is the only way), rather than refusing this
/// task: an unknown-operation code, or an error that is no AWS error
/// document at all (no code), which AWS itself never sends.
fn task_unsupported(status: u16, code: Option<&str>) -> bool {
    match code {
        Some("UnknownOperationException" | "InvalidAction" | "UnknownOperation") => true,
        Some(c) if !c.is_empty() => false,
        _ => matches!(status, 400 | 404 | 405 | 500 | 501),
    }
}

impl DeadLetterQueue {
    /// Sends every message back to `queue_url` (see the module's account of
    /// the two paths), waiting at most `wait` for a move task to finish and
    /// copying at most `max` messages.
    pub async fn redrive(
        &self,
        queue_url: &str,
        method: RedriveMethod,
        wait: Duration,
        max: usize,
    ) -> Result<RedriveReport, DlqError> {
        let why = match method {
            RedriveMethod::Copy => "--method copy".to_string(),
            RedriveMethod::Auto | RedriveMethod::Task => {
                match self.move_task(queue_url, wait).await {
                    Ok(report) => return Ok(report),
                    Err(Unsupported::No(e)) => return Err(e),
                    Err(Unsupported::Yes(why)) if method == RedriveMethod::Auto => why,
                    Err(Unsupported::Yes(why)) => {
                        return Err(DlqError::Sqs {
                            action: "StartMessageMoveTask",
                            queue_url: self.dlq_url.clone(),
                            message: why,
                            hint: "this server has no message-move task: use --method copy",
                            detail: String::new(),
                        });
                    }
                }
            }
        };
        self.copy(queue_url, max, why).await
    }

    async fn arn(&self, queue_url: &str) -> Result<String, DlqError> {
        let answer = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| failure("GetQueueAttributes", queue_url, &e))?;
        answer
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| DlqError::NoArn {
                queue_url: queue_url.to_string(),
            })
    }

    async fn move_task(
        &self,
        queue_url: &str,
        wait: Duration,
    ) -> Result<RedriveReport, Unsupported> {
        let source = self.arn(&self.dlq_url).await?;
        let destination = self.arn(queue_url).await?;
        let started = self
            .client
            .start_message_move_task()
            .source_arn(&source)
            .destination_arn(&destination)
            .send()
            .await;
        let handle = match started {
            Ok(answer) => answer.task_handle().unwrap_or_default().to_string(),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
                return Err(match task_unsupported(status, e.code()) {
                    true => Unsupported::Yes(format!(
                        "the server has no message-move task (StartMessageMoveTask answered HTTP {status})"
                    )),
                    false => Unsupported::No(failure("StartMessageMoveTask", &self.dlq_url, &e)),
                });
            }
        };
        let deadline = Instant::now() + wait;
        loop {
            let tasks = self
                .client
                .list_message_move_tasks()
                .source_arn(&source)
                .max_results(10)
                .send()
                .await
                .map_err(|e| failure("ListMessageMoveTasks", &self.dlq_url, &e))?;
            // Newest first; a finished task no longer shows its handle, and
            // a queue runs one task at a time, so the newest is this one.
            let ours = tasks
                .results()
                .iter()
                .find(|t| t.task_handle() == Some(handle.as_str()))
                .or_else(|| tasks.results().first());
            if let Some(t) = ours {
                let status = t
                    .status()
                    .and_then(MoveTaskStatus::parse)
                    .unwrap_or(MoveTaskStatus::Running);
                if status != MoveTaskStatus::Running || Instant::now() >= deadline {
                    return Ok(RedriveReport::MoveTask {
                        task_handle: handle,
                        status,
                        moved: t.approximate_number_of_messages_moved().max(0) as u64,
                        to_move: t
                            .approximate_number_of_messages_to_move()
                            .map(|n| n.max(0) as u64),
                        failure_reason: t.failure_reason().map(str::to_string),
                    });
                }
            } else if Instant::now() >= deadline {
                return Ok(RedriveReport::MoveTask {
                    task_handle: handle,
                    status: MoveTaskStatus::Running,
                    moved: 0,
                    to_move: None,
                    failure_reason: None,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Why a move task did not run.
enum Unsupported {
    /// The server has none: a copy can do it.
    Yes(String),
    /// It refused or failed: report it.
    No(DlqError),
}

impl From<DlqError> for Unsupported {
    fn from(e: DlqError) -> Self {
        Unsupported::No(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unknown_action_falls_back_to_a_copy() {
        // moto 5: an HTML 500 page, no AWS error code.
        assert!(task_unsupported(500, None));
        assert!(task_unsupported(400, Some("InvalidAction")));
        assert!(task_unsupported(400, Some("UnknownOperationException")));
        // A refusal of this task is reported, never worked around.
        assert!(!task_unsupported(400, Some("UnsupportedOperation")));
        assert!(!task_unsupported(403, Some("AccessDeniedException")));
        assert!(!task_unsupported(400, Some("ResourceNotFoundException")));
        assert!(!task_unsupported(500, Some("InternalError")));
        assert!(!task_unsupported(403, None));
    }

    #[test]
    fn a_task_status_is_parsed_or_refused() {
        assert_eq!(
            MoveTaskStatus::parse("COMPLETED"),
            Some(MoveTaskStatus::Completed)
        );
        assert_eq!(MoveTaskStatus::parse("what"), None);
        let json = serde_json::to_value(MoveTaskStatus::Running).unwrap();
        assert_eq!(json, "RUNNING");
    }
}
