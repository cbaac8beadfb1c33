//! The decoders Rookery runs on untrusted bytes, gathered in one function so the cargo-fuzz target
//! (`fuzz_targets/frame_decoder.rs`) and the stable smoke tests (`tests/decode_fuzz.rs`,
//! `tests/malformed.rs`, which include this file by path) exercise exactly the same calls; plus
//! the seeded PRNG and byte mutator those smoke tests use.
//!
//! The property is the same everywhere: decoding may fail, but never panics, and whatever decodes
//! encodes back to bytes that decode to the same value (so nothing the server accepted is changed
//! by being logged, proposed or answered).

use rookery::codes::op;
use rookery::jute::proto::{ConnectRequest, RequestHeader};
use rookery::jute::txn_body::Transaction;
use rookery::jute::{Reader, Record};
use rookery::pipeline::{decode_multi_response, encode_multi_response, ClientOp};

/// Every opcode a RequestHeader can carry that the server decodes, and its neighbours that it
/// must refuse (notification, error, the gaps in the numbering, internal-only types, extremes).
pub const OPCODES: &[i32] = &[
    op::NOTIFICATION,
    op::CREATE,
    op::DELETE,
    op::EXISTS,
    op::GET_DATA,
    op::SET_DATA,
    op::GET_ACL,
    op::SET_ACL,
    op::GET_CHILDREN,
    op::SYNC,
    10,
    op::PING,
    op::GET_CHILDREN2,
    op::CHECK,
    op::MULTI,
    op::CREATE2,
    op::RECONFIG,
    op::CHECK_WATCHES,
    op::REMOVE_WATCHES,
    op::CREATE_CONTAINER,
    op::DELETE_CONTAINER,
    op::CREATE_TTL,
    op::MULTI_READ,
    23,
    op::AUTH,
    op::SET_WATCHES,
    op::SASL,
    op::GET_EPHEMERALS,
    op::GET_ALL_CHILDREN_NUMBER,
    op::SET_WATCHES2,
    op::ADD_WATCH,
    op::WHO_AM_I,
    108,
    op::CREATE_SESSION,
    op::CLOSE_SESSION,
    op::ERROR,
    i32::MIN,
    i32::MAX,
];

/// Runs every decoder of untrusted input over `data` and returns how many of them accepted it.
/// Panics only on a bug.
pub fn decode_all(data: &[u8]) -> usize {
    let mut accepted = 0;
    // The first frame of a connection.
    if let Ok(req) = ConnectRequest::from_bytes(data) {
        let again = ConnectRequest::from_bytes(&req.to_bytes());
        assert_eq!(again.as_ref(), Ok(&req), "ConnectRequest does not survive a round trip");
        accepted += 1;
    }
    // Every later frame, as the connection reader decodes it: a header, then the body for the
    // opcode the header names.
    let mut r = Reader::new(data);
    if let Ok(hdr) = RequestHeader::read(&mut r) {
        accepted += client_op(hdr.op, r.rest());
    }
    // The same bytes as the body of every opcode.
    for &code in OPCODES {
        accepted += client_op(code, data);
    }
    // A transaction, as the log, a snapshot replay or a quorum PROPOSAL carries it.
    if let Ok(txn) = Transaction::from_bytes(data) {
        let again = Transaction::from_bytes(&txn.to_bytes());
        assert_eq!(again.as_ref(), Ok(&txn), "Transaction does not survive a round trip");
        accepted += 1;
    }
    // A MultiResponse, as our client reads it from a server.
    if let Ok(results) = decode_multi_response(&mut Reader::new(data)) {
        let mut bytes = Vec::new();
        encode_multi_response(&results, &mut bytes);
        let again = decode_multi_response(&mut Reader::new(&bytes));
        assert_eq!(again.as_ref(), Ok(&results), "MultiResponse does not survive a round trip");
        accepted += 1;
    }
    accepted
}

fn client_op(code: i32, body: &[u8]) -> usize {
    let Ok(decoded) = ClientOp::decode(code, body) else { return 0 };
    let mut bytes = Vec::new();
    decoded.write_body(&mut bytes);
    let again = ClientOp::decode(code, &bytes);
    assert_eq!(again.as_ref(), Ok(&decoded), "opcode {code}: request does not survive a round trip");
    1
}

/// xorshift64: small, seedable, and the same on every platform, so one seed replays a run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Zero is xorshift's one fixed point; splitmix the seed so nearby seeds diverge at once.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Integers that sit on the edges of jute's length checks.
fn interesting_i32(rng: &mut Rng, len: usize) -> i32 {
    let pick = [
        -1,
        -2,
        0,
        1,
        i32::MAX,
        i32::MIN,
        0xfffff,
        0x100000,
        0x1fffff,
        len as i32,
        len as i32 + 1,
        len as i32 - 1,
        0xff,
        0x7fff_fff0,
    ];
    pick[rng.below(pick.len())]
}

/// One to four random edits of `input`: bit flips, edge-value bytes and ints (lengths that are
/// null, negative, huge or off by one), truncation, insertion, deletion, duplication, splicing
/// with another encoding from `corpus`, or plain random bytes.
pub fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x2f][rng.below(6)];
            }
            2 | 3 if len >= 4 => {
                let i = rng.below(len - 3);
                let n = interesting_i32(rng, len - i - 4);
                v[i..i + 4].copy_from_slice(&n.to_be_bytes());
            }
            4 if len > 0 => v.truncate(rng.below(len)),
            5 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let extra = rng.bytes(n);
                v.splice(at..at, extra);
            }
            6 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                v.drain(a..b);
            }
            7 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(32)).min(len);
                let chunk = v[a..b].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, chunk);
            }
            8 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                let at = rng.below(len + 1);
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            _ => {
                let n = rng.below(64);
                v = rng.bytes(n);
            }
        }
    }
    v
}
