//! The SDK builds from its own copy of the contract, so it works wherever
//! it is vendored (`orderflow plugin new`) or published; the copy must be
//! the contract. (A test outside `src/`, which is what gets vendored.)

#[test]
fn the_sdks_wit_is_the_contract() {
    assert_eq!(
        include_str!("../wit/orderflow.wit"),
        include_str!("../../../wit/orderflow.wit"),
        "plugins/sdk/wit/orderflow.wit differs from wit/orderflow.wit: copy it over"
    );
}
