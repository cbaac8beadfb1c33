//! libFuzzer target for the decoders Rookery runs on untrusted bytes: the first frame of a
//! connection (`ConnectRequest`), every later frame (`RequestHeader` + `ClientOp::decode` for the
//! opcode it names, and the same bytes under every other opcode), a logged or proposed
//! `Transaction`, and a `MultiResponse`. A decode may fail; it must never panic, and whatever
//! decodes must encode back to bytes that decode to the same value. The calls live in
//! `src/lib.rs` (`rookery_fuzz::decode_all`), shared with the stable smoke test.
//!
//! Running it needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`):
//!
//! ```text
//! cd fuzz
//! cargo +nightly fuzz run frame_decoder                          # until a crash or Ctrl-C
//! cargo +nightly fuzz run frame_decoder -- -max_total_time=300   # five minutes
//! cargo +nightly fuzz run frame_decoder artifacts/frame_decoder/crash-<hash>   # replay a crash
//! ```
//!
//! Without nightly, `cargo test --test decode_fuzz` (from the repository root) runs the same calls
//! over ~200k seeded mutations of the golden encodings in `tests/testdata/jute/`
//! (`DECODE_FUZZ_SEED`, `DECODE_FUZZ_RUNS`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rookery_fuzz::decode_all(data);
});
