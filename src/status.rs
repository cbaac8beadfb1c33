//! `rookery status [zoo.cfg]`: asks every server of a configuration for `srvr` and prints one
//! line each — the one-command version of the status script people write around zkServer.sh.

use crate::config::Config;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);

/// One server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: Option<u64>,
    pub address: String,
    pub mode: String,
    pub zxid: String,
    pub clients: String,
}

/// Where to reach each server's client port: its `;client` part, else its host with the
/// file's clientPort. A standalone file has one server: clientPortAddress (or loopback).
pub fn targets(cfg: &Config) -> Vec<(Option<u64>, String)> {
    let port = cfg.client_port.unwrap_or(2181);
    if cfg.servers.is_empty() {
        let ip = match cfg.client_port_address {
            None | Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(ip) => ip,
        };
        return vec![(None, SocketAddr::new(ip, port).to_string())];
    }
    cfg.servers
        .values()
        .map(|s| {
            let addr = match s.client_addr {
                Some(a) if a.ip().is_unspecified() => format!("{}:{}", s.host, a.port()),
                Some(a) => a.to_string(),
                None => format!("{}:{port}", s.host),
            };
            (Some(s.id), addr)
        })
        .collect()
}

/// The fields of a `srvr` answer that matter here.
pub fn parse_srvr(text: &str) -> Option<(String, String, String)> {
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string());
    Some((field("Mode:")?, field("Zxid:")?, field("Connections:")?))
}

fn ask(address: &str) -> Result<String, String> {
    let addr = address.to_socket_addrs().map_err(|e| e.to_string())?.next().ok_or("no address")?;
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    s.write_all(b"srvr").map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text)
}

pub fn status(cfg: &Config) -> Vec<Row> {
    targets(cfg)
        .into_iter()
        .map(|(id, address)| {
            let (mode, zxid, clients) = match ask(&address) {
                Ok(text) => match parse_srvr(&text) {
                    Some(f) => f,
                    None if text.contains("not in the whitelist") => {
                        ("srvr not whitelisted".into(), "-".into(), "-".into())
                    }
                    None => ("not serving".into(), "-".into(), "-".into()),
                },
                Err(_) => ("not running".into(), "-".into(), "-".into()),
            };
            Row { id, address, mode, zxid, clients }
        })
        .collect()
}

/// The table `rookery status` prints.
pub fn render(rows: &[Row]) -> String {
    let mut out = format!("{:<4} {:<28} {:<20} {:<20} {}\n", "id", "address", "mode", "zxid", "clients");
    for r in rows {
        let id = r.id.map_or("-".to_string(), |i| i.to_string());
        out.push_str(&format!("{:<4} {:<28} {:<20} {:<20} {}\n", id, r.address, r.mode, r.zxid, r.clients));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_srvr() {
        let text = "Zookeeper version: 3.9.2-rookery-0.1.0, built on 1970-01-01 00:00 UTC\nLatency min/avg/max: 0/0.0/0\nReceived: 3\nSent: 2\nConnections: 1\nOutstanding: 0\nZxid: 0x2a\nMode: follower\nNode count: 5\n";
        assert_eq!(parse_srvr(text), Some(("follower".into(), "0x2a".into(), "1".into())));
        assert_eq!(parse_srvr("srvr is not executed because it is not in the whitelist.\n"), None);
    }

    #[test]
    fn targets_of_an_ensemble_file() {
        let text = "dataDir=/tmp/x\nclientPort=2181\ninitLimit=10\nsyncLimit=5\nserver.1=127.0.0.1:2888:3888;2191\nserver.2=127.0.0.1:2889:3889;127.0.0.1:2192\nserver.3=h3:2890:3890\n";
        let cfg = Config::parse(std::path::Path::new("zoo.cfg"), text).unwrap();
        let t = targets(&cfg);
        assert_eq!(t[0], (Some(1), "127.0.0.1:2191".to_string()));
        assert_eq!(t[1], (Some(2), "127.0.0.1:2192".to_string()));
        assert_eq!(t[2], (Some(3), "h3:2181".to_string()));
    }
}
