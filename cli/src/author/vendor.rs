//! The SDK sources `orderflow plugin new` vendors into a new crate.
//!
//! The SDK is not on crates.io, and a git or path dependency on this repo
//! would tie every plugin crate to a checkout (and to the network). So the
//! CLI carries the SDK and the order crate it shares with the host, as they
//! were when the CLI was built, the same contract version its host speaks:
//! the new crate builds anywhere with nothing but crates.io. Their
//! `Cargo.toml`s are made standalone from the workspace's own (its
//! `[workspace.package]` and `[workspace.dependencies]`), so versions have
//! one definition.

/// A vendored crate: its folder under `vendor/`, its manifest, its files.
pub struct Vendored {
    pub dir: &'static str,
    manifest: &'static str,
    /// Path dependencies on other workspace crates, and where they are
    /// vendored relative to this one.
    paths: &'static [(&'static str, &'static str)],
    pub files: &'static [(&'static str, &'static str)],
}

const WORKSPACE: &str = include_str!("../../../Cargo.toml");

pub const CRATES: &[Vendored] = &[
    Vendored {
        dir: "orderflow-plugin-sdk",
        manifest: include_str!("../../../plugins/sdk/Cargo.toml"),
        paths: &[("../../order", "../orderflow-order")],
        files: &[
            (
                "src/lib.rs",
                include_str!("../../../plugins/sdk/src/lib.rs"),
            ),
            (
                "src/order.rs",
                include_str!("../../../plugins/sdk/src/order.rs"),
            ),
            (
                "src/rule.rs",
                include_str!("../../../plugins/sdk/src/rule.rs"),
            ),
            (
                "src/testing.rs",
                include_str!("../../../plugins/sdk/src/testing.rs"),
            ),
            (
                "src/transform.rs",
                include_str!("../../../plugins/sdk/src/transform.rs"),
            ),
            (
                "wit/orderflow.wit",
                include_str!("../../../plugins/sdk/wit/orderflow.wit"),
            ),
        ],
    },
    Vendored {
        dir: "orderflow-order",
        manifest: include_str!("../../../order/Cargo.toml"),
        paths: &[],
        files: &[
            ("src/lib.rs", include_str!("../../../order/src/lib.rs")),
            ("src/parse.rs", include_str!("../../../order/src/parse.rs")),
            ("src/error.rs", include_str!("../../../order/src/error.rs")),
            (
                "src/redact.rs",
                include_str!("../../../order/src/redact.rs"),
            ),
            ("src/caps.rs", include_str!("../../../order/src/caps.rs")),
        ],
    },
];

impl Vendored {
    /// The crate's `Cargo.toml` with every `….workspace = true` replaced
    /// by the workspace's definition, and its path dependencies re-pointed.
    pub fn manifest(&self) -> String {
        let mut out = String::from(
            "# Vendored by `orderflow plugin new` from the orderflow repository; \
             do not edit (a newer CLI's `plugin new` has a newer copy).\n",
        );
        for line in self.manifest.lines() {
            let line = match line.strip_suffix(".workspace = true") {
                Some(key) => {
                    let section =
                        if ["edition", "version", "license", "rust-version"].contains(&key) {
                            "[workspace.package]"
                        } else {
                            "[workspace.dependencies]"
                        };
                    workspace_entry(section, key)
                        .unwrap_or_else(|| panic!("{key} is not in the workspace's {section}"))
                }
                None => self
                    .paths
                    .iter()
                    .fold(line.to_string(), |l, (from, to)| l.replace(from, to)),
            };
            out.push_str(&line);
            out.push('\n');
            if line == "[package]" {
                out.push_str("publish = false\n");
            }
        }
        out
    }
}

/// The line `key = …` of one section of the workspace's Cargo.toml.
fn workspace_entry(section: &str, key: &str) -> Option<String> {
    section_text(section)?
        .lines()
        .find(|l| l.split_once(" = ").is_some_and(|(k, _)| k.trim() == key))
        .map(str::to_string)
}

/// The body of `[section]` in the workspace's Cargo.toml: up to the next
/// section or blank line (after which comes another section's comment).
pub fn section_text(section: &str) -> Option<&'static str> {
    let start = WORKSPACE.find(&format!("\n{section}\n"))? + section.len() + 2;
    let body = &WORKSPACE[start..];
    let end = [body.find("\n["), body.find("\n\n")]
        .into_iter()
        .flatten()
        .min()
        .map_or(body.len(), |i| i + 1);
    Some(&body[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_manifests_stand_alone() {
        for c in CRATES {
            let m = c.manifest();
            assert!(!m.contains("workspace"), "{}:\n{m}", c.dir);
            assert!(!m.contains("../../"), "{}:\n{m}", c.dir);
            assert!(m.contains("edition = \"2024\""), "{}:\n{m}", c.dir);
            assert!(
                m.contains("[package]\npublish = false\n"),
                "{}:\n{m}",
                c.dir
            );
        }
        let sdk = CRATES[0].manifest();
        assert!(
            sdk.contains("orderflow-order = { path = \"../orderflow-order\" }"),
            "{sdk}"
        );
        assert!(sdk.contains("wit-bindgen = { version = "), "{sdk}");
    }

    /// A file added to the SDK or the order crate must be vendored too, or
    /// a new plugin crate would not build.
    #[test]
    fn every_source_file_is_vendored() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (c, dir) in CRATES.iter().zip(["plugins/sdk", "order"]) {
            for sub in ["src", "wit"] {
                let Ok(entries) = std::fs::read_dir(root.join(dir).join(sub)) else {
                    continue;
                };
                for e in entries {
                    let name = format!("{sub}/{}", e.unwrap().file_name().to_string_lossy());
                    assert!(
                        c.files.iter().any(|(f, _)| *f == name),
                        "{dir}/{name} is not in the CLI's vendored copy (cli/src/author/vendor.rs)"
                    );
                }
            }
        }
    }
}
