//! Two operators publishing at once, against a moto server through the
//! real SDK: exactly one wins, the other is told to run again, nothing is
//! lost, and the live manifest is always exactly one published manifest.
//!
//! A real race is left to timing; this one is forced. Each operator's S3
//! client carries an interceptor that holds its `PutObject` of the live
//! manifest until both operators have reached theirs (so both have read the
//! same live manifest), then lets the chosen winner's through first and the
//! loser's only once the winner's publish has returned. Every round is the
//! worst interleaving, every time.

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use orderflow_aws::operator::{Action, Entry, OperatorError};
use orderflow_aws::{PluginLocation, PluginStore, clients};
use orderflow_host::Manifest;
use orderflow_test_support::manifests::{built, threshold_and_transforms};
use orderflow_test_support::moto::MotoServer;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const BUCKET: &str = "orderflow-concurrent-publish";
const LIVE: &str = "plugins/manifest.json";
const ROUNDS: u64 = 8;
/// How long a held PUT waits for the other operator before it gives up
/// (and fails the round) rather than hang the test.
const PATIENCE: Duration = Duration::from_secs(30);

async fn bucket(moto: &MotoServer) -> aws_sdk_s3::Client {
    let s3 = clients::s3(&moto.sdk_config().await);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    s3
}

fn location() -> PluginLocation {
    PluginLocation::new(BUCKET, LIVE)
}

/// The example plugins, built.
fn wasm_dir() -> PathBuf {
    built(orderflow_plugin_build::EXAMPLES)
}

#[tokio::test]
async fn moto_honours_conditional_put_object() {
    let moto = MotoServer::start().unwrap();
    let s3 = bucket(&moto).await;
    let put = |body: &'static str| {
        s3.put_object()
            .bucket(BUCKET)
            .key("k")
            .body(body.as_bytes().to_vec().into())
    };
    type PutError = aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::put_object::PutObjectError,
        aws_sdk_s3::config::http::HttpResponse,
    >;
    let status = |e: &PutError| match e {
        aws_sdk_s3::error::SdkError::ServiceError(se) => se.raw().status().as_u16(),
        other => panic!("not a service error: {other:?}"),
    };

    let first = put("one").if_none_match("*").send().await.unwrap();
    let e = put("two").if_none_match("*").send().await.unwrap_err();
    assert_eq!(status(&e), 412, "If-None-Match: * on an existing key");

    let etag = first.e_tag().expect("an ETag").to_string();
    let e = put("two")
        .if_match("\"not-the-etag\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 412, "If-Match on a stale ETag");
    let second = put("two").if_match(&etag).send().await.unwrap();
    let e = put("three").if_match(&etag).send().await.unwrap_err();
    assert_eq!(status(&e), 412, "If-Match on the ETag just replaced");

    let live = s3
        .get_object()
        .bucket(BUCKET)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(live.e_tag(), second.e_tag());
    assert_eq!(live.body.collect().await.unwrap().to_vec(), b"two");
}

#[derive(Default)]
struct Rendezvous {
    /// Operators that have reached their PUT of the live manifest.
    arrived: u32,
    /// The winner's publish has returned.
    winner_done: bool,
}

/// One round's meeting point for the two operators' live-manifest PUTs.
#[derive(Default)]
struct Gate {
    state: Mutex<Rendezvous>,
    changed: Condvar,
}

impl Gate {
    fn wait_until(&self, what: &str, ready: impl Fn(&Rendezvous) -> bool) -> Result<(), BoxError> {
        let state = self.state.lock().unwrap();
        let (_state, timeout) = self
            .changed
            .wait_timeout_while(state, PATIENCE, |s| !ready(s))
            .unwrap();
        match timeout.timed_out() {
            true => Err(format!("gave up waiting for {what}").into()),
            false => Ok(()),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Rendezvous)) {
        change(&mut self.state.lock().unwrap());
        self.changed.notify_all();
    }
}

/// Holds one operator's PUT of the live manifest at the [`Gate`].
#[derive(Debug)]
struct Hold {
    gate: Arc<Gate>,
    winner: bool,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

impl Intercept for Hold {
    fn name(&self) -> &'static str {
        "Hold"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let path = request.uri().split('?').next().unwrap_or_default();
        if request.method() != "PUT" || !path.ends_with(&format!("/{BUCKET}/{LIVE}")) {
            return Ok(());
        }
        // Interceptors are synchronous: let the runtime move this worker's
        // other tasks elsewhere while this one waits.
        tokio::task::block_in_place(|| {
            self.gate.update(|s| s.arrived += 1);
            self.gate
                .wait_until("the other operator's PUT", |s| s.arrived >= 2)?;
            match self.winner {
                true => Ok(()),
                false => self
                    .gate
                    .wait_until("the winner's publish", |s| s.winner_done),
            }
        })
    }
}

fn held_store(base: &aws_sdk_s3::Client, gate: &Arc<Gate>, winner: bool) -> PluginStore {
    let hold = Hold {
        gate: gate.clone(),
        winner,
    };
    let s3 = aws_sdk_s3::Client::from_conf(base.config().to_builder().interceptor(hold).build());
    PluginStore::new(s3, location())
}

async fn object(s3: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().to_vec()
}

/// The history journal as stored, in key order.
async fn journal(s3: &aws_sdk_s3::Client) -> Vec<Entry> {
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("plugins/history/")
        .send()
        .await
        .unwrap();
    let mut entries = Vec::new();
    for o in listed.contents() {
        let bytes = object(s3, o.key().unwrap()).await;
        entries.push(serde_json::from_slice::<Entry>(&bytes).unwrap());
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_operators_publishing_at_once_one_wins_and_the_other_is_told_to_run_again() {
    let moto = MotoServer::start().unwrap();
    let s3 = bucket(&moto).await;
    let dir = wasm_dir();
    let plain = PluginStore::new(s3.clone(), location());
    // The revisions that went live, in order.
    let mut went_live: Vec<String> = Vec::new();

    for round in 0..ROUNDS {
        let gate = Arc::new(Gate::default());
        // Operator 0 wins the even rounds, operator 1 the odd ones.
        let winner = (round % 2) as usize;
        let manifests: [Manifest; 2] =
            [0, 1].map(|op| threshold_and_transforms(1_000 + 2 * round + op));
        let tasks = [0, 1].map(|op| {
            let store = held_store(&s3, &gate, op == winner);
            let (gate, manifest, dir) = (gate.clone(), manifests[op].clone(), dir.clone());
            tokio::spawn(async move {
                let result = store.publish(&manifest, &dir, None).await;
                if op == winner {
                    gate.update(|s| s.winner_done = true);
                }
                result
            })
        });
        let [a, b] = tasks;
        let (a, b) = tokio::join!(a, b);
        let loser = 1 - winner;
        let (won, lost) = match winner {
            0 => (a.unwrap(), b.unwrap()),
            _ => (b.unwrap(), a.unwrap()),
        };
        let won = won.unwrap_or_else(|e| panic!("round {round}: the winner failed: {e}"));
        assert!(won.changed, "round {round}");
        assert_eq!(won.previous.as_ref(), went_live.last(), "round {round}");
        match lost {
            Err(e @ OperatorError::Conflict { .. }) => {
                let OperatorError::Conflict { bucket, key } = &e else {
                    unreachable!()
                };
                assert_eq!((bucket.as_str(), key.as_str()), (BUCKET, LIVE));
                let message = e.to_string();
                assert!(!message.contains('\n'), "one line: {message}");
                assert!(message.contains("run it again"), "{message}");
                assert!(
                    message.contains(&format!("s3://{BUCKET}/{LIVE}")),
                    "{message}"
                );
            }
            Err(e) => panic!("round {round}: the loser failed otherwise: {e}"),
            Ok(r) => panic!("round {round}: both won ({} too)", r.revision),
        }

        // Never a mix: the live bytes are the winner's kept copy, exactly.
        let live = object(&s3, LIVE).await;
        assert_eq!(live, object(&s3, &won.copy_key).await, "round {round}");
        assert_eq!(
            Manifest::parse(&live, "live").unwrap().revision,
            won.revision
        );
        went_live.push(won.revision.clone());

        // Nothing lost: the loser runs again, as told, and goes live.
        let again = plain.publish(&manifests[loser], &dir, None).await.unwrap();
        assert!(again.changed);
        assert_eq!(again.previous.as_ref(), Some(&won.revision));
        assert_ne!(again.revision, won.revision);
        assert_eq!(object(&s3, LIVE).await, object(&s3, &again.copy_key).await);
        went_live.push(again.revision);
    }

    // One journal entry per win, numbered 1, 2, … with no gap or duplicate.
    let entries = journal(&s3).await;
    let sequences: Vec<u64> = entries.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=2 * ROUNDS).collect::<Vec<_>>());
    let revisions: Vec<&String> = entries.iter().map(|e| &e.revision).collect();
    assert_eq!(revisions, went_live.iter().collect::<Vec<_>>());
    assert!(entries.iter().all(|e| e.action == Action::Publish));
    let status = plain.status(None).await.unwrap();
    assert_eq!(status.sequence, Some(2 * ROUNDS));
    assert_eq!(Some(&status.revision), went_live.last());
}
