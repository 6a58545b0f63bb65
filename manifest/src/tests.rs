use super::*;

const GOOD: &str = r#"{
        "rules": [{"name": "threshold", "version": "1.0.0", "wasm": "threshold.wasm",
                   "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                   "config": {"minimum_minor": {"EUR": 1}}, "limits": {"fuel": 1000}, "on_error": "skip"}],
        "transforms": []
    }"#;

#[test]
fn a_good_manifest_parses_with_a_revision() {
    let m = Manifest::parse(GOOD.as_bytes(), "m.json").unwrap();
    assert_eq!(m.manifest.rules[0].on_error, OnError::Skip);
    assert_eq!(m.manifest.rules[0].limits.fuel, Some(1000));
    assert!(m.revision.starts_with("sha256:") && m.revision.len() == 71);
    assert_eq!(m.revision, m.manifest.revision());
    let other = Manifest::parse(GOOD.replace("1.0.0", "1.0.1").as_bytes(), "m.json").unwrap();
    assert_ne!(m.revision, other.revision, "any change is a new revision");
}

#[test]
fn errors_name_the_file_and_the_field() {
    let e = Manifest::parse(
        GOOD.replace("\"fuel\"", "\"fule\"").as_bytes(),
        "s3://b/m.json",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("manifest s3://b/m.json: rules[0].limits.fule: unknown field `fule`"),
        "{e}"
    );
    let e =
        Manifest::parse(GOOD.replace("\"skip\"", "\"ignore\"").as_bytes(), "m.json").unwrap_err();
    assert!(
        e.to_string()
            .contains("rules[0].on_error: unknown variant `ignore`"),
        "{e}"
    );
}

#[test]
fn hashes_are_required_and_checked_for_form() {
    let e = Manifest::parse(GOOD.replace(&"a".repeat(64), "abc").as_bytes(), "m.json").unwrap_err();
    assert!(
        e.to_string()
            .contains("rules[0] (threshold): sha256 must be 64 hex digits"),
        "{e}"
    );
}

#[test]
fn paths_may_not_escape_the_manifest() {
    let e = Manifest::parse(
        GOOD.replace("threshold.wasm", "../../etc/x.wasm")
            .as_bytes(),
        "m.json",
    )
    .unwrap_err();
    assert!(e.to_string().contains("must be a relative path"), "{e}");
}

#[test]
fn a_source_manifest_may_leave_hashes_out() {
    let source = GOOD.replace(&format!("\"sha256\": \"{}\",", "a".repeat(64)), "");
    assert!(Manifest::parse(source.as_bytes(), "m.json").is_err());
    let m = Manifest::parse_source(source.as_bytes(), "m.json").unwrap();
    assert_eq!(m.rules[0].sha256, "");
}

#[test]
fn wasm_paths_resolve_next_to_the_manifest() {
    let m = Manifest::parse(GOOD.as_bytes(), "m.json").unwrap().manifest;
    assert_eq!(
        m.rules[0].wasm_path(Path::new("/srv/plugins")),
        Path::new("/srv/plugins/threshold.wasm")
    );
}

#[test]
fn only_an_object_is_a_manifest() {
    let e = Manifest::parse(b"[]", "m.json").unwrap_err();
    assert!(e.to_string().contains("must be a JSON object"), "{e}");
}

#[test]
fn wasi_is_granted_only_by_name() {
    let m = Manifest::parse(GOOD.as_bytes(), "m.json").unwrap().manifest;
    assert_eq!(m.rules[0].wasi, Wasi::None, "no WASI unless asked");
    assert!(
        !m.to_json_pretty().contains("wasi"),
        "the default is not written out"
    );
    let granted = GOOD.replace(
        r#""on_error": "skip""#,
        r#""on_error": "skip", "wasi": "deterministic""#,
    );
    let g = Manifest::parse(granted.as_bytes(), "m.json").unwrap();
    assert_eq!(g.manifest.rules[0].wasi, Wasi::Deterministic);
    assert!(
        g.manifest
            .to_json_pretty()
            .contains(r#""wasi": "deterministic""#)
    );
    let e = Manifest::parse(
        granted.replace("deterministic", "full").as_bytes(),
        "m.json",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("rules[0].wasi: unknown variant `full`, expected `none` or `deterministic`"),
        "{e}"
    );
}

#[test]
fn code_limits_are_checked_against_their_caps() {
    let over = GOOD.replace(r#""fuel": 1000"#, r#""max_functions": 100001"#);
    let e = Manifest::parse(over.as_bytes(), "m.json").unwrap_err();
    assert!(
        e.to_string().contains(
            "rules[0] (threshold): limits: max_functions 100001 is above the host's maximum"
        ),
        "{e}"
    );
}

#[test]
fn a_shadow_is_named_by_revision_and_leaves_the_revision_alone() {
    let live = Manifest::parse(GOOD.as_bytes(), "m.json").unwrap();
    let candidate = format!("sha256:{}", "b".repeat(64));
    let shadowed = GOOD.replacen(
        '{',
        &format!(r#"{{"shadow": {{"revision": "{candidate}"}},"#),
        1,
    );
    let m = Manifest::parse(shadowed.as_bytes(), "m.json").unwrap();
    assert_eq!(
        m.revision, live.revision,
        "the live decision does not depend on it"
    );
    let shadow = m.manifest.shadow.clone().unwrap();
    assert_eq!(shadow.revision, candidate);
    assert_eq!(
        shadow.manifest_path(),
        format!("manifests/{}.json", "b".repeat(64))
    );
    let again = Manifest::parse(m.manifest.to_json_pretty().as_bytes(), "m.json").unwrap();
    assert_eq!(again.manifest, m.manifest, "it round-trips");
    assert!(!live.manifest.to_json_pretty().contains("shadow"));
    for bad in ["abc", "sha256:xyz", "bbbb"] {
        let e =
            Manifest::parse(shadowed.replace(&candidate, bad).as_bytes(), "m.json").unwrap_err();
        assert!(e.to_string().contains("shadow.revision"), "{e}");
    }
}

#[test]
fn duplicate_names_are_refused() {
    let mut m = Manifest::parse(GOOD.as_bytes(), "m.json").unwrap().manifest;
    m.transforms.push(m.rules[0].clone());
    assert!(
        m.check("m.json", true)
            .unwrap_err()
            .to_string()
            .contains("the name is used twice")
    );
}
