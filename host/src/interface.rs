//! What a component imports and exports, and why it does not fit a world:
//! the words of a load-time refusal and of `orderflow plugin check`.

use wasmtime::Engine;
use wasmtime::component::Component;

/// What a component actually imports and exports, for error messages and
/// `orderflow plugin check`.
pub(crate) fn describe(engine: &Engine, component: &Component) -> String {
    let (imports, exports) = names(engine, component);
    format!(
        "the component imports [{}] and exports [{}]",
        imports.join(", "),
        exports.join(", ")
    )
}

/// The names a component imports and exports.
pub(crate) fn names(engine: &Engine, component: &Component) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    let imports = ty.imports(engine).map(|(name, _)| name.into()).collect();
    let exports = ty.exports(engine).map(|(name, _)| name.into()).collect();
    (imports, exports)
}

/// The cause of a mismatch, when the component's names already give it:
/// it was built against another version of the contract, or it imports
/// what the host never provides (WASI, say). wasmtime's own message names
/// the first function it could not link, not why.
pub(crate) fn contract_mismatch(
    world: &str,
    imports: &[String],
    exports: &[String],
) -> Option<String> {
    /// `orderflow:plugin/rule@0.1.0` as (`orderflow:plugin`, `0.1.0`).
    fn package(name: &str) -> Option<(&str, &str)> {
        let (package, rest) = name.split_once('/')?;
        Some((package, rest.split_once('@')?.1))
    }
    let (contract, version) = package(world)?;
    let mut versions: Vec<String> = imports
        .iter()
        .chain(exports)
        .filter_map(|name| package(name))
        .filter(|&(p, v)| p == contract && v != version)
        .map(|(p, v)| format!("{p}@{v}"))
        .collect();
    versions.sort();
    versions.dedup();
    let foreign: Vec<&str> = imports
        .iter()
        .filter(|name| package(name).is_none_or(|(p, _)| p != contract))
        .map(String::as_str)
        .collect();
    let mut causes = Vec::new();
    if !versions.is_empty() {
        causes.push(format!(
            "it was built against {}, and this host implements {contract}@{version}",
            versions.join(", ")
        ));
    }
    if !foreign.is_empty() {
        causes.push(format!(
            "it imports {}, which the host does not provide (a plugin gets nothing beyond the \
             contract's interfaces: no WASI, files, sockets or clocks; a component whose runtime \
             needs WASI p2 gets a deterministic one without capabilities only if its manifest \
             entry grants it with \"wasi\": \"deterministic\")",
            foreign.join(", ")
        ));
    }
    (!causes.is_empty()).then(|| causes.join("; "))
}

#[cfg(test)]
mod tests {
    use super::contract_mismatch;

    const WORLD: &str = "orderflow:plugin/rule-plugin@0.2.0";

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_mismatch_of_names_says_its_cause() {
        let ours = names(&[
            "orderflow:plugin/log@0.2.0",
            "orderflow:plugin/orders@0.2.0",
        ]);
        let rule = names(&["orderflow:plugin/rule@0.2.0"]);
        assert_eq!(contract_mismatch(WORLD, &ours, &rule), None);
        assert_eq!(
            contract_mismatch(
                WORLD,
                &names(&["orderflow:plugin/orders@0.1.0"]),
                &names(&["orderflow:plugin/rule@0.1.0"])
            )
            .unwrap(),
            "it was built against orderflow:plugin@0.1.0, and this host implements \
             orderflow:plugin@0.2.0"
        );
        let mut wasi = ours.clone();
        wasi.extend(names(&["wasi:clocks/wall-clock@0.2.0", "env"]));
        let cause = contract_mismatch(WORLD, &wasi, &rule).unwrap();
        assert!(
            cause.starts_with(
                "it imports wasi:clocks/wall-clock@0.2.0, env, which the host does not provide"
            ),
            "{cause}"
        );
    }
}
