//! What is checked of a component's bytes before they are compiled.
//!
//! Compiling is the one step of loading that no fuel or deadline covers:
//! cranelift's time grows with the code it is given, so a component with
//! tens of thousands of functions would hold a cold start (and a core) for
//! seconds before anything could refuse it. Rather than compile under a
//! timer (a compile cannot be interrupted, only abandoned), the host counts
//! what it would compile — cheap: a parse of the section headers, no
//! validation — and refuses a component over either cap by name. The caps
//! sit far above any real plugin (the examples are about 100 KiB) and keep
//! a compile bounded: a component right at the function cap compiles in
//! about 1.3 s on a 2-core machine, while one of 30,000 functions is refused
//! in 2.5 ms (both measured in `host/tests/hostile.rs`).

use crate::error::LoadError;
use wasmparser::{Parser, Payload};

/// The most functions (summed over every core module of the component) a
/// plugin may define.
pub const MAX_FUNCTIONS: u64 = 10_000;
/// The most bytes of function bodies (summed likewise) a plugin may define:
/// one huge function costs as much to compile as many small ones.
pub const MAX_CODE_BYTES: u64 = 4 << 20;

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

/// Refuses a component with more code than a plugin may have, naming the
/// limit it broke.
pub(crate) fn check(plugin: &str, wasm: &[u8]) -> Result<(), LoadError> {
    let size = code_size(wasm);
    let over = |what: &'static str, count: u64, limit: u64| LoadError::TooMuchCode {
        plugin: plugin.into(),
        what,
        count,
        limit,
    };
    if size.functions > MAX_FUNCTIONS {
        return Err(over("functions", size.functions, MAX_FUNCTIONS));
    }
    if size.code_bytes > MAX_CODE_BYTES {
        return Err(over("bytes of code", size.code_bytes, MAX_CODE_BYTES));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core module of `functions` functions, each `body_ops` `nop`s long,
    /// written out by hand (the binary format is simple enough).
    fn module(functions: u32, body_ops: u32) -> Vec<u8> {
        fn leb(mut n: u64, out: &mut Vec<u8>) {
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    out.push(byte);
                    return;
                }
                out.push(byte | 0x80);
            }
        }
        fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
            out.push(id);
            leb(body.len() as u64, out);
            out.extend_from_slice(body);
        }
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        section(1, &[1, 0x60, 0, 0], &mut m);
        let mut funcs = Vec::new();
        leb(functions.into(), &mut funcs);
        funcs.extend(std::iter::repeat_n(0u8, functions as usize));
        section(3, &funcs, &mut m);
        let mut body = vec![0u8];
        body.extend(std::iter::repeat_n(0x01u8, body_ops as usize));
        body.push(0x0b);
        let mut code = Vec::new();
        leb(functions.into(), &mut code);
        for _ in 0..functions {
            leb(body.len() as u64, &mut code);
            code.extend_from_slice(&body);
        }
        section(10, &code, &mut m);
        m
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
        assert!(check("p@1", &module(100, 10)).is_ok());
        let e = check("p@1", &module(MAX_FUNCTIONS as u32 + 1, 0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "plugin p@1: the component has 10001 functions, more than the 10000 a plugin may \
             have; refusing to compile it"
        );
        let e = check("p@1", &module(2, 3 << 20)).unwrap_err();
        assert!(
            e.to_string()
                .contains("bytes of code, more than the 4194304 a plugin may have"),
            "{e}"
        );
    }
}
