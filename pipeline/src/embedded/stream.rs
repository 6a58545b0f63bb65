//! The embedded pipeline over an input of any length, on every core, with
//! bounded memory: the caller's reader hands over chunks of orders; worker
//! threads parse, decide and store each chunk on its own (its own in-process
//! queue, with the receive limit and dead-letter queue of [`run`]); the
//! reports come back through a reorder buffer, so the caller sees every
//! order in input order as soon as the orders before it are done.
//!
//! A chunk is the unit of everything: with the same chunk size, a chunk's
//! reports do not depend on how many workers there are, so 1 and N jobs
//! print the same bytes. What the reader may have read ahead is bounded by
//! the window, in chunks, never by the length of the input.

use super::{FileStore, OrderReport, run};
use orderflow_host::order::Parsed;
use orderflow_host::{RuleSet, TransformChain};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, channel, sync_channel};
use std::sync::{Arc, Mutex};

/// Orders per chunk: enough that a chunk's queue, runtime and channel cost
/// nothing per order, few enough that the first report comes early.
pub const CHUNK: usize = 256;

/// Orders as the reader found them.
pub enum Chunk {
    /// JSON Lines, `(1-based line, text)`: parsed and validated on a worker,
    /// since the validated parse costs as much as the rules.
    Lines(Vec<(usize, String)>),
    /// Already parsed (a JSON array, which is read whole).
    Parsed(Vec<Parsed>),
}

impl Chunk {
    fn parse(self) -> Vec<Parsed> {
        match self {
            Chunk::Lines(lines) => lines
                .into_iter()
                .map(|(line, text)| Parsed::new(line, &text))
                .collect(),
            Chunk::Parsed(orders) => orders,
        }
    }
}

/// What runs one chunk of orders end to end: the embedded pipeline's
/// stages ([`Embedded`]), or a benchmark's native twin of them.
pub trait Stages: Sync {
    /// One report per order, in order.
    fn run(&self, orders: Vec<Parsed>) -> Vec<OrderReport>;
}

/// The embedded pipeline's stages: the wasm rules and transforms, the
/// in-process queue, the store of JSON files in `store`.
pub struct Embedded<'a> {
    pub rules: &'a RuleSet,
    pub transforms: &'a TransformChain,
    pub store: &'a std::path::Path,
}

impl Stages for Embedded<'_> {
    fn run(&self, orders: Vec<Parsed>) -> Vec<OrderReport> {
        // The stages are async for the AWS ports; here nothing waits but a
        // retry's backoff, so each chunk gets a runtime on its own thread.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
        rt.block_on(run(self.rules, self.transforms, self.store, orders))
    }
}

impl Embedded<'_> {
    /// The store the stages write to, for reading it back.
    pub fn file_store(&self) -> FileStore {
        FileStore::new(self.store)
    }
}

/// How many workers, and how far the reader may run ahead of the output.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Worker threads, at least 1.
    pub jobs: usize,
    /// Chunks read but not yet handed to the caller, at most: the bound on
    /// memory (`window` × the chunk size orders).
    pub window: usize,
}

impl Options {
    /// `jobs` workers (0: one per core) with a window of four chunks each,
    /// so a slow chunk does not idle the others.
    pub fn with_jobs(jobs: usize) -> Options {
        let jobs = match jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Options {
            jobs,
            window: jobs * 4,
        }
    }
}

/// What a run held at most: what a test asserts of the memory bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub chunks: usize,
    pub orders: usize,
    /// The most chunks that were read and not yet emitted at one time.
    pub max_in_flight: usize,
}

/// Runs every chunk through `stages` on `options.jobs` workers and calls
/// `emit` with each order's report, in input order, with the tag its chunk
/// came with (the caller's input file, say).
pub fn run_chunks<T: Send>(
    stages: &dyn Stages,
    chunks: impl Iterator<Item = (T, Chunk)>,
    options: Options,
    mut emit: impl FnMut(&T, OrderReport),
) -> Stats {
    let window = options.window.max(1);
    // The window bounds what is in the work channel too, so sending never blocks.
    let (work_tx, work_rx) = sync_channel::<(usize, Chunk)>(window);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = channel::<(usize, Done)>();
    // `move`: should the reader unwind, the work channel closes with it and
    // the workers stop, so the scope can join them.
    std::thread::scope(move |scope| {
        for _ in 0..options.jobs.max(1) {
            let (work_rx, done_tx) = (work_rx.clone(), done_tx.clone());
            scope.spawn(move || {
                loop {
                    let next = work_rx.lock().expect("work lock").recv();
                    let Ok((seq, chunk)) = next else { break };
                    // A panic goes to the reader, which would otherwise wait
                    // for this chunk for ever.
                    let reports = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        stages.run(chunk.parse())
                    }));
                    if done_tx.send((seq, reports)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut order = Reorder::new(done_rx);
        for (tag, chunk) in chunks {
            while order.in_flight() >= window {
                order.wait(&mut emit);
            }
            let seq = order.read(tag);
            work_tx
                .send((seq, chunk))
                .expect("workers outlive the reader");
        }
        drop(work_tx);
        while order.in_flight() > 0 {
            order.wait(&mut emit);
        }
        order.stats
    })
}

/// A chunk's reports, or the panic that ran it.
type Done = std::thread::Result<Vec<OrderReport>>;

/// The reorder buffer: chunks done out of order wait here for the ones
/// before them.
struct Reorder<T> {
    done: Receiver<(usize, Done)>,
    /// The tag of every chunk read and not yet emitted, from `next` on.
    tags: std::collections::VecDeque<T>,
    waiting: BTreeMap<usize, Vec<OrderReport>>,
    next: usize,
    stats: Stats,
}

impl<T> Reorder<T> {
    fn new(done: Receiver<(usize, Done)>) -> Self {
        Reorder {
            done,
            tags: Default::default(),
            waiting: BTreeMap::new(),
            next: 0,
            stats: Stats::default(),
        }
    }

    fn in_flight(&self) -> usize {
        self.tags.len()
    }

    /// Counts a chunk read; its sequence number.
    fn read(&mut self, tag: T) -> usize {
        self.tags.push_back(tag);
        self.stats.chunks += 1;
        self.stats.max_in_flight = self.stats.max_in_flight.max(self.tags.len());
        self.stats.chunks - 1
    }

    /// Waits for a chunk to be done, then emits every chunk whose
    /// predecessors are all emitted.
    fn wait(&mut self, emit: &mut impl FnMut(&T, OrderReport)) {
        let (seq, reports) = self.done.recv().expect("workers outlive the reader");
        let reports = reports.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        self.waiting.insert(seq, reports);
        while let Some(reports) = self.waiting.remove(&self.next) {
            let tag = self.tags.pop_front().expect("a tag per chunk read");
            self.stats.orders += reports.len();
            for r in reports {
                emit(&tag, r);
            }
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::OrderStatus;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Reports each order by its line, slower for some chunks than others,
    /// so chunks finish out of order; counts the chunks running at once.
    struct Uneven {
        running: AtomicUsize,
        most: AtomicUsize,
    }

    impl Stages for Uneven {
        fn run(&self, orders: Vec<Parsed>) -> Vec<OrderReport> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            let first = orders[0].line;
            std::thread::sleep(std::time::Duration::from_millis((first % 7) as u64));
            self.running.fetch_sub(1, Ordering::SeqCst);
            orders
                .into_iter()
                .map(|p| OrderReport {
                    line: Some(p.line),
                    order_id: p.order_id,
                    high_value: false,
                    attributes: Default::default(),
                    reasons: Vec::new(),
                    status: OrderStatus::Rejected,
                    error: None,
                    producer: crate::producer::ProducerResult {
                        line: Some(p.line),
                        order_id: None,
                        outcome: crate::producer::ProducerOutcome::NotHighValue,
                        decision: None,
                        order: None,
                        message: None,
                    },
                })
                .collect()
        }
    }

    fn lines(chunks: usize, size: usize) -> impl Iterator<Item = (usize, Chunk)> {
        (0..chunks).map(move |c| {
            let lines = (0..size).map(|i| (c * size + i + 1, "{}".to_string()));
            (c, Chunk::Lines(lines.collect()))
        })
    }

    #[test]
    fn reports_come_in_input_order_within_the_window() {
        for jobs in [1, 4] {
            let stages = Uneven {
                running: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
            };
            let options = Options { jobs, window: 6 };
            let mut seen = Vec::new();
            let stats = run_chunks(&stages, lines(40, 5), options, |&chunk, r| {
                seen.push((chunk, r.line.unwrap()))
            });
            let expected: Vec<_> = (0..200).map(|i| (i / 5, i + 1)).collect();
            assert_eq!(seen, expected, "jobs {jobs}");
            assert_eq!((stats.chunks, stats.orders), (40, 200));
            assert!(stats.max_in_flight <= 6, "{stats:?}");
            assert_eq!(
                stages.most.load(Ordering::SeqCst) > 1,
                jobs > 1,
                "jobs {jobs}"
            );
        }
    }

    #[test]
    fn a_panicking_stage_is_the_caller_s_panic_not_a_hang() {
        struct Panics;
        impl Stages for Panics {
            fn run(&self, _: Vec<Parsed>) -> Vec<OrderReport> {
                panic!("stage bug")
            }
        }
        let options = Options { jobs: 2, window: 2 };
        let run =
            std::panic::catch_unwind(|| run_chunks(&Panics, lines(10, 1), options, |_, _| {}));
        assert!(run.is_err());
    }
}
