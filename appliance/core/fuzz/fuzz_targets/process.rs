//! Fuzz `Pipeline::process` (see `tests/common/harness.rs` for the input format and the
//! invariants). Run: `cd appliance/core/fuzz && cargo +nightly fuzz run process corpus/process seeds/process`.
#![no_main]

#[path = "../../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::harness::run(data));
