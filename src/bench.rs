//! `rookery bench`: a closed-loop load generator on the client protocol. Each client is its own
//! session with one request outstanding. It prints throughput, exact latency percentiles, errors,
//! and, from the server's `mntr`, how many fsyncs the load caused and how many txns each carried
//! (group commit at work).

use crate::client::Client;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub struct Options {
    pub addr: SocketAddr,
    pub clients: usize,
    pub duration: Duration,
    pub op: String,
    pub value_bytes: usize,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        addr: "127.0.0.1:2181".parse().expect("valid literal"),
        clients: 32,
        duration: Duration::from_secs(5),
        op: "create".into(),
        value_bytes: 100,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--hosts" | "--host" => o.addr = val()?.parse().map_err(|e| format!("--hosts: {e}"))?,
            "--clients" => o.clients = val()?.parse().map_err(|e| format!("--clients: {e}"))?,
            "--duration" => {
                o.duration = Duration::from_secs_f64(val()?.parse().map_err(|e| format!("--duration: {e}"))?)
            }
            "--op" => o.op = val()?.clone(),
            "--value-bytes" => o.value_bytes = val()?.parse().map_err(|e| format!("--value-bytes: {e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !matches!(o.op.as_str(), "create" | "set" | "get") {
        return Err(format!("--op {}: expected create, set or get", o.op));
    }
    if o.clients == 0 {
        return Err("--clients must be at least 1".into());
    }
    Ok(o)
}

/// `mntr` as key → value.
fn mntr(addr: SocketAddr) -> HashMap<String, String> {
    let mut text = String::new();
    if let Ok(mut s) = TcpStream::connect(addr) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(b"mntr");
        let _ = s.read_to_string(&mut text);
    }
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.trim_start_matches("zk_").to_string(), v.to_string()))
        .collect()
}

fn counter(m: &HashMap<String, String>, key: &str) -> f64 {
    m.get(key).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

pub fn run(o: &Options) -> Result<String, String> {
    let value = vec![b'v'; o.value_bytes];
    let mut setup = Client::connect(o.addr, 30_000).map_err(|e| format!("connect {}: {e}", o.addr))?;
    let root = format!("/rookery-bench-{}", std::process::id());
    setup.create(&root, b"", 0).map_err(|e| format!("create {root}: {e}"))?;
    for i in 0..o.clients {
        setup.create(&format!("{root}/c{i}"), &value, 0).map_err(|e| e.to_string())?;
    }
    let before = mntr(o.addr);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..o.clients {
        let (stop, root, value, op, addr) = (stop.clone(), root.clone(), value.clone(), o.op.clone(), o.addr);
        workers.push(thread::spawn(move || -> (Vec<u32>, u64) {
            let mut lat = Vec::with_capacity(100_000);
            let mut errors = 0;
            let Ok(mut c) = Client::connect(addr, 30_000) else { return (lat, 1) };
            let mine = format!("{root}/c{i}");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = match op.as_str() {
                    "create" => c.create(&format!("{mine}/n{n}"), &value, 0).map(|_| ()),
                    "set" => c.set_data(&mine, &value, -1).map(|_| ()),
                    _ => c.get_data(&mine, false).map(|_| ()),
                };
                lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                if r.is_err() {
                    errors += 1;
                }
                n += 1;
            }
            (lat, errors)
        }));
    }
    thread::sleep(o.duration);
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.join().map_err(|_| "a client thread panicked".to_string())?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = mntr(o.addr);
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i] as f64 / 1000.0
    };
    let ops = lat.len() as f64;
    let fsyncs = counter(&after, "cnt_fsynctime") - counter(&before, "cnt_fsynctime");
    let txns = counter(&after, "sum_sync_processor_batch_size") - counter(&before, "sum_sync_processor_batch_size");
    let mut out = String::new();
    out.push_str(&format!(
        "op={} clients={} value_bytes={} duration_s={:.1}\n",
        o.op, o.clients, o.value_bytes, elapsed
    ));
    out.push_str(&format!("ops={} ops_per_s={:.0} errors={errors}\n", ops, ops / elapsed));
    out.push_str(&format!(
        "latency_ms p50={:.3} p90={:.3} p99={:.3} p99.9={:.3} max={:.3}\n",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    ));
    if fsyncs > 0.0 {
        out.push_str(&format!(
            "fsyncs={fsyncs:.0} fsyncs_per_s={:.0} txns_per_fsync={:.1}\n",
            fsyncs / elapsed,
            txns / fsyncs
        ));
    }
    Ok(out)
}
