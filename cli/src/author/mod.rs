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
