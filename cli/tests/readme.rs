//! The README's `cargo orderflow …` lines, run as written (the alias
//! replaced by the binary under test), so the examples a newcomer copies
//! cannot drift from what the CLI does. The README marks the blocks that
//! are only example output or need an AWS account.

use std::path::Path;
use std::process::Command;

/// The shell lines of the README's `sh` blocks that call `cargo orderflow`,
/// without their trailing comments.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut in_sh = false;
    let mut commands = Vec::new();
    for line in readme.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = !in_sh && trimmed == "```sh";
            continue;
        }
        if in_sh && trimmed.contains("cargo orderflow ") {
            // A comment starts at a `#` after two spaces (the README's style).
            let command = match trimmed.find("  #") {
                Some(i) => &trimmed[..i],
                None => trimmed,
            };
            commands.push(command.trim().to_string());
        }
    }
    commands
}

#[test]
fn readme_commands_are_found_with_their_comments_cut() {
    let found = readme_commands(
        "```sh\ncargo orderflow run x.jsonl   # runs\n```\ncargo orderflow not-in-a-block\n```\ncargo orderflow output\n```\n",
    );
    assert_eq!(found, ["cargo orderflow run x.jsonl"]);
}

#[test]
fn every_cargo_orderflow_line_of_the_readme_runs() {
    let root = orderflow_plugin_build::workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let commands = readme_commands(&readme);
    assert!(
        commands.len() >= 3,
        "the README shows the CLI: {commands:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let manifest = orderflow_plugin_build::lock_manifest(
        &root.join("plugins/manifest.json"),
        &dir.path().join("plugins"),
    )
    .expect("example plugins build");
    // `plugin check` names the component where the plugin build puts it.
    orderflow_plugin_build::build(&["threshold"]).expect("threshold builds");
    let binary = Path::new(env!("CARGO_BIN_EXE_orderflow"));

    for command in &commands {
        let shell = command.replace("cargo orderflow", &binary.display().to_string());
        let out = Command::new("bash")
            .args(["-o", "pipefail", "-c", &shell])
            .current_dir(&root)
            .env("ORDERFLOW_MANIFEST", &manifest)
            .env("ORDERFLOW_STORE", dir.path().join("store"))
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Exit 1 is the documented answer when an input has bad orders.
        let expected = if command.contains("bad-orders") { 1 } else { 0 };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "README line `{command}`:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!stdout.trim().is_empty(), "`{command}` printed nothing");
    }
}
