//! Keeps the layering of DESIGN.md honest: the codec, state and decision layers never touch a
//! socket, a thread, a file or a clock. Only `node/` (and `main.rs`, `client/`) may.

use std::path::Path;

const PURE: &[&str] = &[
    "src/codes.rs",
    "src/ids.rs",
    "src/limits.rs",
    "src/jute",
    "src/tree",
    "src/watches.rs",
    "src/sessions.rs",
    "src/pipeline",
    "src/election",
    "src/zab",
    "src/fourlw.rs",
    "src/http.rs",
    "src/metrics.rs",
    "src/admin",
    "src/auth/digest_md5.rs",
    "src/auth/jaas.rs",
    "src/auth/quorum.rs",
    "src/auth/x509.rs",
];

const FORBIDDEN: &[&str] =
    &["std::thread", "TcpStream", "TcpListener", "UdpSocket", "Instant::now", "SystemTime", "thread::sleep", "select!"];

fn files(p: &Path, out: &mut Vec<std::path::PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            files(&e.unwrap().path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

#[test]
fn pure_layers_touch_no_sockets_threads_or_clocks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for p in PURE {
        files(&root.join(p), &mut all);
    }
    assert!(all.len() > 10, "found the source files");
    let mut bad = Vec::new();
    for f in all {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for word in FORBIDDEN {
                if line.contains(word) {
                    bad.push(format!("{}:{}: {word}", f.strip_prefix(root).unwrap().display(), n + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}
