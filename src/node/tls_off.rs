//! Built without the `tls` feature: the TLS settings are refused at start-up, saying so.

use super::stream::Stream;
use crate::config::Config;
use std::io;
use std::net::TcpStream;
use std::sync::Arc;

const NO_TLS: &str = "this rookery was built without the `tls` feature (cargo build --features tls)";

/// Never built: no TLS client port without the feature.
pub enum ClientTls {}

impl ClientTls {
    pub fn from_config(cfg: &Config) -> Result<Option<ClientTls>, String> {
        let secure_port = cfg.property("secureClientPort").is_some_and(|p| p != "0");
        let unified = cfg.flag("client.portUnification");
        if secure_port || unified {
            return Err(format!("secureClientPort / client.portUnification: {NO_TLS}"));
        }
        Ok(None)
    }

    pub fn accept(&self, _tcp: TcpStream) -> io::Result<Stream> {
        match *self {}
    }
}

/// Never built: no TLS between quorum peers without the feature.
pub enum QuorumTls {}

impl QuorumTls {
    pub fn from_config(cfg: &Config) -> Result<Option<Arc<QuorumTls>>, String> {
        if cfg.flag("sslQuorum") {
            return Err(format!("sslQuorum=true: {NO_TLS}"));
        }
        Ok(None)
    }

    pub fn accept(&self, _tcp: TcpStream) -> io::Result<Stream> {
        match *self {}
    }

    pub fn connect(&self, _tcp: TcpStream) -> io::Result<Stream> {
        match *self {}
    }
}

/// Never built: no TLS client connections without the feature.
#[derive(Debug)]
pub enum SecureClient {}

impl SecureClient {
    pub fn from_config(cfg: &Config) -> Result<Option<SecureClient>, String> {
        if cfg.flag("client.secure") {
            return Err(format!("zookeeper.client.secure=true: {NO_TLS}"));
        }
        Ok(None)
    }

    pub fn connect(&self, _tcp: TcpStream, _host: &str) -> io::Result<Stream> {
        match *self {}
    }
}
