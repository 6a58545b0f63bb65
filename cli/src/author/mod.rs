//! The plugin author's side of the CLI, `orderflow plugin …`: scaffold a
//! crate (`new`), build it into a component (`build`), and run it through
//! the real host over fixture files (`test`). `check` is in `main.rs`.

pub mod build;
mod fixture;
mod load;
mod logs;
pub mod new;
mod report;
pub mod test;
mod vendor;

/// A plugin's manifest entry from a JSON file (`--entry`): what it asks
/// beyond the defaults, a WASI grant or limits of its own.
pub fn read_entry(path: &std::path::Path) -> anyhow::Result<orderflow_host::PluginSpec> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a manifest entry", path.display()))
}
