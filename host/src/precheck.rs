//! What is checked of a component's bytes before they are compiled.
//!
//! Compiling is the one step of loading that no fuel or deadline covers:
//! cranelift's time grows with the code it is given, so a component with
//! tens of thousands of functions would hold a cold start (and a core) for
//! seconds before anything could refuse it. Rather than compile under a
//! timer (a compile cannot be interrupted, only abandoned), the host counts
//! what it would compile — cheap: a parse of the section headers, no
//! validation — and refuses a component over either cap by name. The
//! default caps sit far above any plugin written against the SDK (the
//! examples are about 100 KiB) and keep a compile bounded: a component right
//! at the function cap compiles in about 1.3 s on a 2-core machine, while
//! one of 30,000 functions is refused in 2.5 ms (both measured in
//! `host/tests/hostile.rs`). A plugin that embeds an interpreter has its own
//! caps in its manifest entry (`limits.max_functions`, `max_code_bytes`, at
//! most [`limits::MAX_FUNCTIONS`](crate::limits::MAX_FUNCTIONS) and
//! [`limits::MAX_CODE_BYTES`](crate::limits::MAX_CODE_BYTES)).

use crate::error::LoadError;
use crate::limits::Limits;
use wasmparser::{Parser, Payload};

/// The most functions (summed over every core module of the component) a
/// plugin may define unless its manifest entry allows more.
pub const MAX_FUNCTIONS: u64 = crate::limits::DEFAULT_MAX_FUNCTIONS;
/// The most bytes of function bodies (summed likewise) a plugin may define
/// unless its entry allows more: one huge function costs as much to compile
/// as many small ones.
pub const MAX_CODE_BYTES: u64 = crate::limits::DEFAULT_MAX_CODE_BYTES;

/// What a component would give the compiler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CodeSize {
    pub functions: u64,
    pub code_bytes: u64,
}

/// Counts the functions and code bytes of every core module, nested ones
/// included. Bytes that do not parse are left for the compiler to refuse
/// with its own, better message.
pub(crate) fn code_size(wasm: &[u8]) -> CodeSize {
    let mut size = CodeSize::default();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::CodeSectionStart {
                count, size: bytes, ..
            }) => {
                size.functions += u64::from(count);
                size.code_bytes += u64::from(bytes);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    size
}

/// Refuses a component with more code than the plugin's `limits` allow,
/// naming the limit it broke.
pub(crate) fn check(plugin: &str, wasm: &[u8], limits: &Limits) -> Result<(), LoadError> {
    let size = code_size(wasm);
    let over = |what: &'static str, count: u64, limit: u64| LoadError::TooMuchCode {
        plugin: plugin.into(),
        what,
        count,
        limit,
    };
    if size.functions > limits.max_functions {
        return Err(over("functions", size.functions, limits.max_functions));
    }
    if size.code_bytes > limits.max_code_bytes {
        return Err(over(
            "bytes of code",
            size.code_bytes,
            limits.max_code_bytes,
        ));
    }
    Ok(())
}

/// The integration tests' encoder, shared rather than written twice.
#[cfg(test)]
#[path = "../tests/support/wasm_code.rs"]
mod wasm_code;

#[cfg(test)]
mod tests {
    use super::*;

    use super::wasm_code;

    /// `functions` functions of `body_ops` `nop`s each.
    fn module(functions: u32, body_ops: u32) -> Vec<u8> {
        wasm_code::core_module(functions, &[0x01], body_ops)
    }

    #[test]
    fn counts_functions_and_code_of_a_core_module() {
        let size = code_size(&module(3, 4));
        assert_eq!(size.functions, 3);
        // Per function a size byte and 6 body bytes (locals, 4 nops, end).
        assert_eq!(size.code_bytes, 3 * 7);
        assert_eq!(code_size(b"not wasm"), CodeSize::default());
    }

    #[test]
    fn over_either_cap_is_refused_by_name() {
        let defaults = Limits::default();
        assert!(check("p@1", &module(100, 10), &defaults).is_ok());
        let e = check("p@1", &module(MAX_FUNCTIONS as u32 + 1, 0), &defaults).unwrap_err();
        assert_eq!(
            e.to_string(),
            "plugin p@1: the component has 10001 functions, more than the 10000 a plugin may \
             have; refusing to compile it"
        );
        let e = check("p@1", &module(2, 3 << 20), &defaults).unwrap_err();
        assert!(
            e.to_string()
                .contains("bytes of code, more than the 4194304 a plugin may have"),
            "{e}"
        );
    }

    #[test]
    fn a_plugins_own_caps_replace_the_defaults() {
        let interpreter = Limits {
            max_functions: MAX_FUNCTIONS + 10,
            max_code_bytes: 8 << 20,
            ..Limits::default()
        };
        assert!(check("p@1", &module(MAX_FUNCTIONS as u32 + 1, 0), &interpreter).is_ok());
        assert!(check("p@1", &module(2, 3 << 20), &interpreter).is_ok());
        let e = check("p@1", &module(MAX_FUNCTIONS as u32 + 11, 0), &interpreter).unwrap_err();
        assert!(
            e.to_string().contains("more than the 10010 a plugin"),
            "{e}"
        );
        let small = Limits {
            max_functions: 50,
            ..Limits::default()
        };
        assert!(
            check("p@1", &module(100, 10), &small).is_err(),
            "a cap can be lowered too"
        );
    }
}
