//! The WASI a plugin gets when its manifest entry grants
//! `"wasi": "deterministic"`: WASI p2 with no capabilities behind it and
//! nothing that varies between runs, so a component built from another
//! language (CPython through componentize-py, whose runtime imports WASI
//! for stdio, clocks and random seeds) still answers from the order and
//! its configuration only, as replay and shadow evaluation need.
//!
//! - no files: no preopened directory, so `wasi:filesystem` has nothing to
//!   open; no environment variables, no arguments, no working directory;
//!   stdin is closed;
//! - no sockets: TCP, UDP and name lookups are refused, and so is every
//!   address;
//! - a fixed clock: both clocks read [`FIXED_TIME`] and never move; a
//!   sleep (a subscription to either clock) is ready at once, since a real
//!   one would block the host thread where no fuel or deadline reaches
//!   (a poll on a clock that never fires would block it for good);
//! - seeded randomness: every instance of a component draws the same
//!   stream, seeded from the component's sha256;
//! - stdout and stderr go to the plugin's log, line by line, under the
//!   same per-call budget, line cap and redaction as the `log` interface
//!   (stdout at info, stderr at warn); what does not fit is dropped and
//!   counted.
//!
//! A plugin without the grant is linked without any of this, so a
//! component that imports WASI is refused at load time, as before.

use crate::store::State;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// What both clocks read: the Unix epoch, 1970-01-01T00:00:00Z, so a
/// plugin that reads the time sees plainly that it is not the real one.
pub const FIXED_TIME: Duration = Duration::ZERO;

/// The most bytes of stdout and of stderr kept between two flushes (one
/// call); the log's per-call budget is the same size.
const CAPTURE_MAX: usize = crate::store::LOG_BUDGET;

/// A plugin's grant of the deterministic WASI, ready to give each of its
/// instances a context.
#[derive(Clone, Debug)]
pub(crate) struct Deterministic {
    seed: [u8; 32],
}

impl Deterministic {
    /// The grant for a plugin whose manifest entry asks for it.
    pub(crate) fn granted(spec: &crate::PluginSpec) -> Option<Deterministic> {
        match spec.wasi {
            crate::manifest::Wasi::None => None,
            crate::manifest::Wasi::Deterministic => {
                // The sha256 pins the bytes; any 32 bytes seed as well.
                let mut seed = [0u8; 32];
                for (i, byte) in seed.iter_mut().enumerate() {
                    *byte = spec
                        .sha256
                        .get(2 * i..2 * i + 2)
                        .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                        .unwrap_or(0);
                }
                Some(Deterministic { seed })
            }
        }
    }

    /// A fresh context for one instance.
    pub(crate) fn context(&self) -> Box<WasiState> {
        let stdout = Captured::default();
        let stderr = Captured::default();
        let mut insecure_seed = [0u8; 16];
        insecure_seed.copy_from_slice(&self.seed[..16]);
        let ctx = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FixedClock)
            .monotonic_clock(FixedClock)
            .secure_random(StdRng::from_seed(self.seed))
            .insecure_random(StdRng::from_seed(self.seed.map(|b| !b)))
            .insecure_random_seed(u128::from_le_bytes(insecure_seed))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        Box::new(WasiState {
            ctx,
            table: ResourceTable::new(),
            stdout,
            stderr,
        })
    }
}

/// The WASI half of a granted plugin's store.
pub(crate) struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
    stdout: Captured,
    stderr: Captured,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = self
            .wasi
            .as_deref_mut()
            .expect("WASI is linked only for plugins granted it, whose stores have a context");
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut wasi.table,
        }
    }
}

impl State {
    /// Writes what the plugin printed since the last flush to its log.
    pub(crate) fn flush_wasi_output(&mut self) {
        let Some(wasi) = self.wasi.as_deref() else {
            return;
        };
        let out = [
            (tracing::Level::INFO, wasi.stdout.take()),
            (tracing::Level::WARN, wasi.stderr.take()),
        ];
        for (level, (bytes, overflowed)) in out {
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                self.log(level, line);
            }
            if overflowed {
                self.logs_dropped += 1;
            }
        }
    }
}

/// The linker of a granted plugin: its world's, plus WASI p2 with the
/// monotonic clock's subscriptions replaced by ones that never wait.
pub(crate) fn linker(world: &Linker<State>) -> wasmtime::Result<Linker<State>> {
    let mut linker = world.clone();
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    linker.allow_shadowing(true);
    monotonic_clock::add_to_linker::<State, TimelessClock>(&mut linker, |state| {
        Timeless(state.ctx().table)
    })?;
    linker.allow_shadowing(false);
    Ok(linker)
}

/// Whether the deterministic WASI provides `import` (an interface name as
/// a component imports it): what a granted plugin's load error leaves out
/// of the imports it names as unprovided.
pub(crate) fn provides(import: &str) -> bool {
    const PACKAGES: [&str; 6] = [
        "wasi:io/",
        "wasi:clocks/",
        "wasi:random/",
        "wasi:cli/",
        "wasi:filesystem/",
        "wasi:sockets/",
    ];
    PACKAGES.iter().any(|p| import.starts_with(p)) && import.contains("@0.2.")
}

struct FixedClock;

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        FIXED_TIME
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        FIXED_TIME.as_nanos() as u64
    }
}

/// `wasi:clocks/monotonic-clock` where time stands still and every wait is
/// over at once.
struct Timeless<'a>(&'a mut ResourceTable);

struct TimelessClock;

impl HasData for TimelessClock {
    type Data<'a> = Timeless<'a>;
}

impl monotonic_clock::Host for Timeless<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(HostMonotonicClock::now(&FixedClock))
    }
    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(HostMonotonicClock::resolution(&FixedClock))
    }
    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.elapsed()
    }
    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.elapsed()
    }
}

impl Timeless<'_> {
    fn elapsed(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let elapsed = self.0.push(Elapsed)?;
        wasmtime_wasi::p2::subscribe(self.0, elapsed)
    }
}

/// A wait that is already over.
struct Elapsed;

#[wasmtime_wasi::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

/// One of a plugin's output streams, kept for its log: at most
/// [`CAPTURE_MAX`] bytes between flushes, the rest dropped. Writes never
/// fail and never wait, so printing cannot change what a plugin answers.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Capture>>);

#[derive(Default)]
struct Capture {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl Captured {
    fn write(&self, bytes: &[u8]) {
        let mut c = self.0.lock().expect("captured-output lock");
        let room = CAPTURE_MAX.saturating_sub(c.bytes.len());
        if bytes.len() > room {
            c.overflowed = true;
        }
        c.bytes.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// What was written since the last take, and whether some was dropped.
    fn take(&self) -> (Vec<u8>, bool) {
        let mut c = self.0.lock().expect("captured-output lock");
        let overflowed = std::mem::take(&mut c.overflowed);
        (std::mem::take(&mut c.bytes), overflowed)
    }
}

impl IsTerminal for Captured {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Captured {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for Captured {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        Captured::write(self, &bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(CAPTURE_MAX)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Captured {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Captured {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Captured::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_output_keeps_its_cap_and_says_when_it_dropped() {
        let c = Captured::default();
        c.write(b"hello\n");
        assert_eq!(c.take(), (b"hello\n".to_vec(), false));
        assert_eq!(c.take(), (Vec::new(), false), "a take empties it");
        c.write(&vec![b'x'; CAPTURE_MAX + 10]);
        let (bytes, overflowed) = c.take();
        assert_eq!((bytes.len(), overflowed), (CAPTURE_MAX, true));
    }

    #[test]
    fn the_grant_seeds_from_the_components_hash() {
        let mut spec: crate::PluginSpec = serde_json::from_value(serde_json::json!({
            "name": "p", "version": "1", "wasm": "p.wasm", "sha256": "01ff".repeat(16)
        }))
        .unwrap();
        assert!(Deterministic::granted(&spec).is_none(), "no grant, no WASI");
        spec.wasi = crate::manifest::Wasi::Deterministic;
        let grant = Deterministic::granted(&spec).unwrap();
        assert_eq!(&grant.seed[..4], &[0x01, 0xff, 0x01, 0xff]);
    }

    #[test]
    fn only_wasi_p2_is_provided() {
        assert!(provides("wasi:clocks/wall-clock@0.2.0"));
        assert!(provides("wasi:sockets/tcp@0.2.9"));
        assert!(!provides("wasi:http/types@0.2.9"), "no HTTP");
        assert!(!provides("wasi:clocks/wall-clock@0.3.0"), "no p3");
        assert!(!provides("env"));
    }
}
