//! A bounded, stable-toolchain stand-in for `cargo +nightly fuzz run frame_decoder`: the same
//! decode calls (`fuzz/src/lib.rs`) over seeded mutations of the golden encodings from the
//! ZooKeeper 3.8 jars (`tests/testdata/jute/`), framed as the server sees them, plus random bytes.
//! No input may panic a decoder, and whatever decodes must round-trip.
//!
//! `DECODE_FUZZ_SEED=<n>` replays a run; `DECODE_FUZZ_RUNS=<n>` changes its length (default
//! 200,000). A failure prints the seed, the input number and the input in hex.

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod fuzz;

use fuzz::{decode_all, mutate, Rng};
use rookery::codes::op;
use rookery::jute::proto::RequestHeader;
use rookery::jute::txn::{TxnDigest, TxnHeader};
use rookery::jute::Record;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

const DEFAULT_SEED: u64 = 0x5eed_f00d_2181;
const DEFAULT_RUNS: usize = 200_000;

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex digit")).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The opcodes a golden request record is sent under.
fn request_ops(name: &str) -> &'static [i32] {
    match name {
        "CreateRequest" | "CreateRequestNullData" => &[op::CREATE, op::CREATE2, op::CREATE_CONTAINER],
        "CreateTtlRequest" => &[op::CREATE_TTL],
        "DeleteRequest" => &[op::DELETE],
        "ExistsRequest" => &[op::EXISTS],
        "GetDataRequest" => &[op::GET_DATA],
        "SetDataRequest" | "SetDataRequestEmptyData" => &[op::SET_DATA],
        "GetAclRequest" => &[op::GET_ACL],
        "SetAclRequest" => &[op::SET_ACL],
        "GetChildrenRequest" => &[op::GET_CHILDREN],
        "SyncRequest" => &[op::SYNC],
        "GetChildren2Request" => &[op::GET_CHILDREN2],
        "CheckVersionRequest" => &[op::CHECK],
        "MultiRequest" | "MultiRequestEmpty" => &[op::MULTI],
        "ReconfigRequest" => &[op::RECONFIG],
        "CheckWatchesRequest" => &[op::CHECK_WATCHES],
        "RemoveWatchesRequest" => &[op::REMOVE_WATCHES],
        "MultiReadRequest" => &[op::MULTI_READ],
        "AuthPacket" => &[op::AUTH],
        "SetWatches" | "SetWatchesNullVectors" => &[op::SET_WATCHES],
        "GetSaslRequest" => &[op::SASL],
        "GetEphemeralsRequest" => &[op::GET_EPHEMERALS],
        "GetAllChildrenNumberRequest" => &[op::GET_ALL_CHILDREN_NUMBER],
        "SetWatches2" => &[op::SET_WATCHES2],
        "AddWatchRequest" => &[op::ADD_WATCH],
        _ => &[],
    }
}

/// The txn types a golden txn record is logged under.
fn txn_kinds(name: &str) -> &'static [i32] {
    match name {
        "CreateTxn" => &[op::CREATE, op::CREATE2],
        "CreateContainerTxn" => &[op::CREATE_CONTAINER],
        "CreateTtlTxn" => &[op::CREATE_TTL],
        "DeleteTxn" => &[op::DELETE, op::DELETE_CONTAINER],
        "SetDataTxn" => &[op::SET_DATA, op::RECONFIG],
        "SetAclTxn" => &[op::SET_ACL],
        "CheckVersionTxn" => &[op::CHECK],
        "CreateSessionTxn" => &[op::CREATE_SESSION],
        "CloseSessionTxn" => &[op::CLOSE_SESSION],
        "ErrorTxn" => &[op::ERROR],
        "MultiTxn" | "MultiTxnFailed" => &[op::MULTI],
        _ => &[],
    }
}

/// Valid encodings to mutate: every golden record as is, each request record behind the
/// RequestHeader it travels with, and each txn record behind a TxnHeader (with and without a
/// digest), which is how the server meets them.
fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/jute");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let body = unhex(&std::fs::read_to_string(&path).unwrap());
        for &code in request_ops(&name) {
            let mut framed = RequestHeader { xid: 7, op: code }.to_bytes();
            framed.extend_from_slice(&body);
            out.push(framed);
        }
        for &kind in txn_kinds(&name) {
            let mut txn = TxnHeader { client_id: 0x100, cxid: 3, zxid: 0x1_0000_0002, time: 1, kind }.to_bytes();
            txn.extend_from_slice(&body);
            out.push(txn.clone());
            TxnDigest { version: 2, tree_digest: 0x1234 }.write(&mut txn);
            out.push(txn);
        }
        out.push(body);
    }
    for code in [op::PING, op::CLOSE_SESSION, op::WHO_AM_I] {
        out.push(RequestHeader { xid: -2, op: code }.to_bytes());
    }
    out
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

#[test]
fn decoders_never_panic_on_mutated_or_random_input() {
    let seed: u64 = env_or("DECODE_FUZZ_SEED", DEFAULT_SEED);
    let runs: usize = env_or("DECODE_FUZZ_RUNS", DEFAULT_RUNS);
    let corpus = corpus();
    assert!(corpus.len() > 100, "golden corpus found ({} encodings)", corpus.len());
    // The unmutated encodings first: every one of them must decode without a panic too.
    let mut accepted = 0;
    for input in &corpus {
        accepted += run_one(seed, usize::MAX, input);
    }
    assert!(accepted >= corpus.len(), "most golden encodings decode as something ({accepted})");
    let mut rng = Rng::new(seed);
    let mut inputs_accepted = 0;
    for i in 0..runs {
        let input = if rng.chance(10) {
            let n = rng.below(96);
            rng.bytes(n)
        } else {
            let base = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, base, &corpus)
        };
        if run_one(seed, i, &input) > 0 {
            inputs_accepted += 1;
        }
    }
    // Mutations must reach past the first length check, or the run proves little.
    assert!(
        runs < 1000 || inputs_accepted > runs / 5,
        "only {inputs_accepted} of {runs} inputs decoded as anything (DECODE_FUZZ_SEED={seed})"
    );
}

/// Decodes one input; a panic is reported with what replays it, then re-raised.
fn run_one(seed: u64, i: usize, input: &[u8]) -> usize {
    match panic::catch_unwind(AssertUnwindSafe(|| decode_all(input))) {
        Ok(accepted) => accepted,
        Err(cause) => {
            eprintln!("decode panic: DECODE_FUZZ_SEED={seed} input #{i} ({} bytes): {}", input.len(), hex(input));
            panic::resume_unwind(cause);
        }
    }
}
