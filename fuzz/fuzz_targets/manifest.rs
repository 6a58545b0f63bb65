//! The manifest parser on any bytes: parsed or refused, never a panic; a
//! parsed manifest keeps its revision through its own JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orderflow_manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let _ = Manifest::parse_source(data, "fuzz");
    if let Ok(loaded) = Manifest::parse(data, "fuzz") {
        let again = Manifest::parse(loaded.manifest.to_json_pretty().as_bytes(), "again")
            .expect("its own JSON parses");
        assert_eq!(again.revision, loaded.revision);
    }
});
