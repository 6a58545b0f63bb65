//! Core modules and components encoded by hand (the binary format is
//! simple enough), for tests of how much code the host accepts. Shared by
//! the precheck's unit tests (through `#[path]`) and the hostile corpus.
#![allow(dead_code)]

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

/// A core module of `functions` functions of type `[] -> []`, each body
/// `op` repeated `ops` times (`op` must leave the stack as it found it).
pub fn core_module(functions: u32, op: &[u8], ops: u32) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut m);
    let mut funcs = Vec::new();
    leb(functions.into(), &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, functions as usize));
    section(3, &funcs, &mut m);
    let mut body = vec![0u8];
    for _ in 0..ops {
        body.extend_from_slice(op);
    }
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

/// A component (layer 1, version 0x0d) whose one section is `module`.
pub fn component_of(module: &[u8]) -> Vec<u8> {
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(1, module, &mut component);
    component
}
