//! The replay itself: one reader streams lines in batches through a bounded
//! channel to one worker per core; each worker parses, has both rule sets
//! decide, and counts into its own [`Summary`]; the summaries are merged at
//! the end. Memory is bounded by the channel (a few batches in flight) and
//! the summaries' caps, never by the length of the history.

use crate::ReplayError;
use crate::input::{Input, parse_line};
use crate::summary::Summary;
use orderflow_host::rules::Outcome;
use orderflow_host::{Decision, RuleSet};
use std::io::BufRead;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

/// Lines per batch: enough that the channel costs nothing per order.
const BATCH: usize = 256;

/// A transient failure (a deadline on a loaded machine) is tried this many
/// times before the order is left out as unsettled.
const TRIES: usize = 3;
/// The failure kinds (`Failure::kind`) that trying again may cure.
const TRANSIENT: [&str; 2] = ["timeout", "capacity"];

/// How to run a replay.
pub struct Options<'a> {
    /// Worker threads; 0 is one per core.
    pub threads: usize,
    /// Example orders kept per kind of difference.
    pub examples: usize,
    /// Called by the workers with the number of lines each batch held.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            threads: 0,
            examples: 5,
            progress: None,
        }
    }
}

struct Batch {
    input: usize,
    /// `(line number, text)`, blank lines left out.
    lines: Vec<(u64, String)>,
}

/// Replays every line of `inputs` through both rule sets. An input that
/// cannot be opened or read stops the replay; a line that holds no valid
/// order is counted and listed, and the replay goes on.
pub fn replay(
    baseline: &RuleSet,
    candidate: &RuleSet,
    inputs: &[Input],
    options: &Options,
) -> Result<Summary, ReplayError> {
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let names: Vec<String> = inputs.iter().map(Input::name).collect();
    let (tx, rx) = sync_channel::<Batch>(threads * 2);
    let rx = Arc::new(Mutex::new(rx));
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                let names = &names;
                scope.spawn(move || work(baseline, candidate, names, &rx, options))
            })
            .collect();
        let read = read_all(inputs, tx);
        let mut summary = Summary::new(&baseline.revision, &candidate.revision, options.examples);
        for w in workers {
            summary.merge(w.join().expect("a replay worker panicked"));
        }
        read?;
        Ok(summary.finish())
    })
}

/// Reads every input into batches; dropping `tx` at the end tells the
/// workers there is no more.
fn read_all(inputs: &[Input], tx: SyncSender<Batch>) -> Result<(), ReplayError> {
    for (index, input) in inputs.iter().enumerate() {
        let mut reader = input.open()?;
        let mut batch = Vec::with_capacity(BATCH);
        let mut buf = Vec::new();
        let mut line = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|source| ReplayError::Read {
                    input: input.name(),
                    line: line + 1,
                    source,
                })?;
            if n == 0 {
                break;
            }
            line += 1;
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            // Invalid UTF-8 is an invalid line, reported like any other.
            let text = String::from_utf8_lossy(&buf).into_owned();
            batch.push((line, text));
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx
                    .send(Batch {
                        input: index,
                        lines: full,
                    })
                    .is_err()
                {
                    return Ok(());
                }
            }
        }
        if !batch.is_empty()
            && tx
                .send(Batch {
                    input: index,
                    lines: batch,
                })
                .is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}

fn work(
    baseline: &RuleSet,
    candidate: &RuleSet,
    names: &[String],
    rx: &Mutex<Receiver<Batch>>,
    options: &Options,
) -> Summary {
    // Each rule failure is counted in the summary; the host's warning per
    // failed call would bury the report under a line per order.
    let _quiet = tracing::dispatcher::set_default(&tracing::Dispatch::none());
    let mut summary = Summary::new(&baseline.revision, &candidate.revision, options.examples);
    loop {
        let Ok(batch) = rx.lock().expect("the batch channel lock").recv() else {
            return summary;
        };
        let source = &names[batch.input];
        let count = batch.lines.len() as u64;
        for (line, text) in batch.lines {
            let position = (batch.input, line);
            let text = text.trim_end_matches(['\n', '\r']);
            let entry = match parse_line(text) {
                Ok(entry) => entry,
                Err(error) => {
                    summary.record_invalid(position, source, error);
                    continue;
                }
            };
            let order = Arc::new(entry.order);
            let (Some(b), Some(c)) = (decide(baseline, &order), decide(candidate, &order)) else {
                summary.unsettled += 1;
                continue;
            };
            if let Some(recorded) = entry.recorded_high_value {
                summary.log_records += 1;
                summary.log_disagrees_with_baseline += u64::from(recorded != b.high_value);
            }
            summary.record(position, source, &order, &b, &c);
        }
        if let Some(progress) = options.progress {
            progress(count);
        }
    }
}

/// The set's decision, tried again while a rule fails transiently: a
/// deadline missed on a busy machine says nothing about the rule set.
fn decide(set: &RuleSet, order: &Arc<orderflow_host::Order>) -> Option<Decision> {
    let settled = |d: &Decision| {
        !d.trace.iter().any(
            |t| matches!(&t.outcome, Outcome::Failed { limit, .. } if TRANSIENT.contains(limit)),
        )
    };
    (0..TRIES).map(|_| set.evaluate(order)).find(settled)
}
