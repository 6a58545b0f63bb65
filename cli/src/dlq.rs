//! `orderflow dlq …`: what is in the dead-letter queue and why, and putting
//! it back once the cause is fixed. Behind the `aws` feature, like
//! `orderflow plugins`; the queues come from flags with environment
//! defaults, as the bucket does there.
//!
//! Exit codes: 0 done; 1 a redrive left something behind (a message not
//! sent, sent but not deleted, or a move task not completed); 2 the
//! command could not run.

use anyhow::{Context, Result};
use clap::Subcommand;
use orderflow_aws::dlq::{
    DeadLetterQueue, DlqError, Listing, MoveTaskStatus, RedriveMethod, RedriveReport,
};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Queues {
    /// The dead-letter queue's URL (the stack's `HighValueDLQUrl` output).
    #[arg(long, env = "ORDERFLOW_DLQ_URL", global = true)]
    pub dlq_url: Option<String>,
    /// The queue a redrive sends messages back to (the stack's high-value queue).
    #[arg(long, env = "ORDERFLOW_QUEUE_URL", global = true)]
    pub queue_url: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// On an AWS error, print the SDK's full account of it too.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Method {
    /// SQS's message-move task; by copy where the server has none.
    Auto,
    /// SQS's message-move task only.
    Task,
    /// Receive, send to the queue, delete what was sent.
    Copy,
}

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Each message's order id, receive count, when it was dead-lettered and
    /// why. Nothing is consumed: every message is received with a 30 s
    /// visibility timeout and made visible again at once, which adds one
    /// to each receive count.
    List {
        /// Stop after this many messages.
        #[arg(long, default_value_t = 1000)]
        max: usize,
    },
    /// Send every message back to --queue-url (after the cause is fixed),
    /// with SQS's message-move task where the server has it, else by copy.
    Redrive {
        /// List what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
        /// Which way the messages go back.
        #[arg(long, value_enum, default_value = "auto")]
        method: Method,
        /// How long to wait for a move task to finish (it carries on after).
        #[arg(long, default_value_t = 300)]
        wait_seconds: u64,
        /// List (--dry-run) or copy at most this many messages; a move
        /// task always moves them all.
        #[arg(long, default_value_t = 100_000)]
        max: usize,
    },
}

pub fn dlq(queues: Queues, command: DlqCommand) -> Result<ExitCode> {
    let verbose = queues.verbose;
    let result = run(queues, command);
    if let Err(e) = &result
        && verbose
        && let Some(detail) = e.downcast_ref::<DlqError>().and_then(DlqError::detail)
    {
        eprintln!("{detail}");
    }
    result
}

fn run(queues: Queues, command: DlqCommand) -> Result<ExitCode> {
    let dlq_url = queues
        .dlq_url
        .context("name the dead-letter queue with --dlq-url or ORDERFLOW_DLQ_URL")?;
    let json = queues.json;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = orderflow_aws::clients::sdk_config().await;
        let dlq = DeadLetterQueue::new(orderflow_aws::clients::sqs(&config), dlq_url);
        match command {
            DlqCommand::List { max } => {
                let listing = dlq.list(max).await?;
                print(json, &listing, listing_text)
            }
            DlqCommand::Redrive {
                dry_run,
                method,
                wait_seconds,
                max,
            } => {
                let queue_url = queues.queue_url.context(
                    "name the queue to send back to with --queue-url or ORDERFLOW_QUEUE_URL",
                )?;
                if dry_run {
                    let listing = dlq.list(max).await?;
                    let plan = DryRun {
                        dry_run: true,
                        queue_url: &queue_url,
                        listing: &listing,
                    };
                    return print(json, &plan, |p| {
                        format!(
                            "{}dry run: would move {}{} messages to {}; nothing moved",
                            listing_text(p.listing),
                            p.listing.messages.len(),
                            if p.listing.truncated { " or more" } else { "" },
                            p.queue_url
                        )
                    });
                }
                let method = match method {
                    Method::Auto => RedriveMethod::Auto,
                    Method::Task => RedriveMethod::Task,
                    Method::Copy => RedriveMethod::Copy,
                };
                let wait = Duration::from_secs(wait_seconds);
                let report = dlq.redrive(&queue_url, method, wait, max).await?;
                print(json, &report, |r| redrive_text(r, &queue_url, wait_seconds))?;
                Ok(if report.complete() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
        }
    })
}

#[derive(Serialize)]
struct DryRun<'a> {
    dry_run: bool,
    queue_url: &'a str,
    listing: &'a Listing,
}

fn print<T: Serialize>(json: bool, value: &T, text: impl Fn(&T) -> String) -> Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text(value).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

fn listing_text(l: &Listing) -> String {
    if l.messages.is_empty() {
        return format!("{} is empty\n", l.queue_url);
    }
    let mut out = format!(
        "{} messages in {}\n{:<24} {:>8}  {:<20}  REASON\n",
        l.messages.len(),
        l.queue_url,
        "ORDER",
        "RECEIVES",
        "SENT TO DLQ"
    );
    for m in &l.messages {
        out += &format!(
            "{:<24} {:>8}  {:<20}  {}\n",
            m.order_id.as_deref().unwrap_or("(no order id)"),
            m.receive_count,
            m.sent_at.as_deref().unwrap_or("-"),
            m.reason
        );
    }
    out += "(each receive count includes this listing's own receive; nothing was consumed)\n";
    if l.truncated {
        out += "stopped at --max: more messages may remain\n";
    }
    if l.still_hidden > 0 {
        out += &format!(
            "{} messages could not be made visible again at once; they reappear within 30 s\n",
            l.still_hidden
        );
    }
    out
}

fn redrive_text(r: &RedriveReport, queue_url: &str, wait_seconds: u64) -> String {
    match r {
        RedriveReport::MoveTask {
            status,
            moved,
            to_move,
            failure_reason,
            ..
        } => {
            let of = to_move.map(|n| format!(" of {n}")).unwrap_or_default();
            let mut out = format!(
                "redrive by SQS's message-move task: {status:?}, moved {moved}{of} messages to {queue_url}\n"
            );
            if let Some(reason) = failure_reason {
                out += &format!("the task failed: {reason}\n");
            }
            if *status == MoveTaskStatus::Running {
                out += &format!(
                    "still running after {wait_seconds} s; SQS carries on (`orderflow dlq list` shows what is left)\n"
                );
            }
            out
        }
        RedriveReport::Copied {
            moved,
            failed,
            not_deleted,
            why,
            stopped,
        } => {
            let mut out =
                format!("redrive by copy ({why}): moved {moved} messages to {queue_url}\n");
            if !failed.is_empty() {
                out += &format!("{} not sent (still in the DLQ):\n", failed.len());
                for f in failed {
                    out += &format!("  {}: {}\n", f.message_id, f.reason);
                }
            }
            if !not_deleted.is_empty() {
                out += &format!(
                    "{} sent but not deleted from the DLQ (now in both; the consumer's write is idempotent): {}\n",
                    not_deleted.len(),
                    not_deleted.join(", ")
                );
            }
            if let Some(e) = stopped {
                out += &format!("stopped before the DLQ was empty: {e}\n");
            }
            out
        }
    }
}
