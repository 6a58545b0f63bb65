//! The `local-stack` command's own arguments, before any stack is made.

use std::process::Command;

#[test]
fn keep_with_a_shared_endpoint_is_refused_up_front() {
    let out = Command::new(env!("CARGO_BIN_EXE_local-stack"))
        .arg("--keep")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--keep keeps the moto server this command starts")
            && stderr.contains("AWS_ENDPOINT_URL=http://127.0.0.1:1"),
        "{stderr}"
    );
}
