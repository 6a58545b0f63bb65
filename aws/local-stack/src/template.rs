//! Creating the stack from template.yaml: how (the stack name, parameter
//! overrides, a stage name of its own), and running `deploy/local_stack.py`,
//! which creates the resources on the endpoint and prints their names.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// How the stack is created from template.yaml, and how the local event
/// source mapping drives it.
#[derive(Debug, Clone)]
pub struct StackSettings {
    /// CloudFormation stack name (moto derives the plugin bucket's name from it).
    pub stack_name: String,
    /// Template parameter overrides (`StageName` names the topic, queues,
    /// table and functions).
    pub parameters: Vec<(String, String)>,
    /// Seconds a message received by the local event source mapping stays
    /// invisible: the template's queue VisibilityTimeout (190 s, sized for
    /// Lambda) scaled down, so failed records come back within a test. Given
    /// on each ReceiveMessage; the queue itself keeps the template's value.
    pub visibility_timeout: i32,
}

/// The publisher principal a local stack names (as deploy/localstack does).
pub const LOCAL_PUBLISHER_ARN: &str = "arn:aws:iam::123456789012:role/orderflow-local-publisher";

impl StackSettings {
    /// Stack `orderflow-<stage>` with `StageName=<stage>` (lowercase letters,
    /// digits and `-`, at most 20 characters: see [`unique_stage`]), and a
    /// publisher principal (the template requires one; moto does not apply
    /// the bucket policy that names it).
    pub fn new(stage: impl Into<String>) -> StackSettings {
        let stage = stage.into();
        StackSettings {
            stack_name: format!("orderflow-{stage}"),
            parameters: vec![
                ("StageName".into(), stage),
                ("PluginPublisherArn".into(), LOCAL_PUBLISHER_ARN.into()),
            ],
            visibility_timeout: 1,
        }
    }

    /// Overrides a template parameter (replacing an earlier override).
    pub fn parameter(&mut self, key: &str, value: impl Into<String>) -> &mut StackSettings {
        self.parameters.retain(|(k, _)| k != key);
        self.parameters.push((key.into(), value.into()));
        self
    }
}

/// What `deploy/local_stack.py` prints: the stack's Outputs and the
/// functions' environment.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TemplateOutputs {
    pub topic_arn: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub table_name: String,
    pub bucket: String,
    pub manifest_key: String,
    pub refresh_seconds: u64,
    pub producer_function: String,
    pub consumer_function: String,
    /// The producer's `ORDERFLOW_DECISION_LOG_BUCKET`: set with `DecisionLog=Enabled`.
    pub decision_log_bucket: Option<String>,
}

/// The Python packages `deploy/local_stack.py` imports: (module, package).
const PYTHON_MODULES: [(&str, &str); 3] = [
    ("boto3", "boto3"),
    ("samtranslator", "aws-sam-translator"),
    ("yaml", "PyYAML"),
];
const SETUP: &str = "cargo xtask setup";

/// The Python that runs `deploy/local_stack.py`: `ORDERFLOW_PYTHON`, else
/// the workspace's `deploy/.venv/lint` (made by `cargo xtask setup`, with
/// boto3 and the SAM translator), else `python3`.
pub fn python() -> String {
    let venv = orderflow_plugin_build::workspace_root().join("deploy/.venv/lint/bin/python");
    std::env::var("ORDERFLOW_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| venv.exists().then(|| venv.display().to_string()))
        .unwrap_or_else(|| "python3".into())
}

/// `deploy/local_stack.py` in this workspace.
pub fn template_script() -> PathBuf {
    orderflow_plugin_build::workspace_root().join("deploy/local_stack.py")
}

/// The packages of [`PYTHON_MODULES`] that `python` cannot import.
fn missing_python_packages(python: &str) -> Result<Vec<&'static str>> {
    let modules: Vec<&str> = PYTHON_MODULES.iter().map(|(m, _)| *m).collect();
    let out = Command::new(python)
        .arg("-c")
        .arg(
            "import importlib.util, sys\n\
             print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))",
        )
        .args(&modules)
        .output()
        .with_context(|| format!("running {python}"))?;
    if !out.status.success() {
        bail!(
            "{python} could not check its packages ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let missing = String::from_utf8_lossy(&out.stdout).to_string();
    Ok(PYTHON_MODULES
        .iter()
        .filter(|(m, _)| missing.split_whitespace().any(|x| x == *m))
        .map(|(_, p)| *p)
        .collect())
}

/// Runs `deploy/local_stack.py` with `python` against `endpoint`: creates
/// the stack from template.yaml and answers its outputs and the script's
/// progress (its stderr).
pub fn run_template_script(
    python: &str,
    endpoint: &str,
    region: &str,
    settings: &StackSettings,
) -> Result<(TemplateOutputs, String)> {
    let script = template_script();
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .args(["--endpoint", endpoint, "--region", region])
        .args(["--stack-name", &settings.stack_name]);
    for (k, v) in &settings.parameters {
        cmd.arg("-p").arg(format!("{k}={v}"));
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "cannot run {python} ({e}): deploy/local_stack.py needs Python 3 with boto3, \
             aws-sam-translator and PyYAML (`{SETUP}`); set ORDERFLOW_PYTHON to use another interpreter"
        ),
        Err(e) => return Err(e).with_context(|| format!("running {python}")),
    };
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        if let Ok(missing) = missing_python_packages(python)
            && !missing.is_empty()
        {
            bail!(
                "{python} lacks the Python package(s) {} that {} needs: `{SETUP}` \
                 (or set ORDERFLOW_PYTHON to a Python that has them)",
                missing.join(", "),
                script.display()
            );
        }
        bail!(
            "{python} {} failed ({}):\n{}",
            script.display(),
            out.status,
            log.trim_end()
        );
    }
    let outputs = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{} printed no stack outputs: {}\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout).trim(),
            log.trim_end()
        )
    })?;
    Ok((outputs, log))
}

/// A stage name no other stack on the same endpoint has: `<base>-<8 hex>`
/// (a local endpoint may outlive one run, and tests run concurrently).
/// `base` must fit the template's StageName pattern with 9 characters to spare.
pub fn unique_stage(base: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mixed = nanos ^ std::process::id().rotate_left(16) ^ n.wrapping_mul(0x9e37_79b9);
    let stage = format!("{base}-{mixed:08x}");
    assert!(
        stage.len() <= 20
            && stage.starts_with(|c: char| c.is_ascii_lowercase())
            && stage
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "{stage:?} is not a StageName (^[a-z][a-z0-9-]{{0,19}}$)"
    );
    stage
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What running the script with `python` against a dead endpoint says.
    fn failure_with(python: &str) -> String {
        run_template_script(
            python,
            "http://127.0.0.1:9",
            "us-east-1",
            &StackSettings::new("t"),
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn a_python_without_the_packages_is_named_with_the_fix() {
        // python3 without site-packages (-S): none of the three importable.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("python-bare");
        std::fs::write(&fake, format!("#!/bin/sh\nexec {} -S \"$@\"\n", python())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = failure_with(fake.to_str().unwrap());
        assert!(err.contains("boto3, aws-sam-translator, PyYAML"), "{err}");
        assert!(err.contains("`cargo xtask setup`"), "{err}");
    }

    #[test]
    fn a_missing_interpreter_is_named_with_the_fix() {
        let err = failure_with("/nonexistent/python3");
        assert!(err.contains("/nonexistent/python3"), "{err}");
        assert!(err.contains("ORDERFLOW_PYTHON"), "{err}");
        assert!(err.contains("`cargo xtask setup`"), "{err}");
    }

    #[test]
    fn unique_stages_fit_the_template_and_differ() {
        let a = unique_stage("e2e");
        let b = unique_stage("e2e");
        assert_ne!(a, b);
        assert_eq!(a.len(), 12);
        let mut s = StackSettings::new(&a);
        s.parameter("RefreshSeconds", "0")
            .parameter("RefreshSeconds", "5");
        assert_eq!(s.stack_name, format!("orderflow-{a}"));
        assert_eq!(
            s.parameters,
            [
                ("StageName".into(), a),
                ("PluginPublisherArn".into(), LOCAL_PUBLISHER_ARN.into()),
                ("RefreshSeconds".into(), "5".into())
            ]
        );
    }
}
