//! ZooKeeper's TLS settings turned into rustls configurations: `ssl.*` for the secure client port
//! and `ssl.quorum.*` for the quorum and election ports (`sslQuorum=true`).
//!
//! Stores are PEM files, as ZooKeeper's `ssl.keyStore.type=PEM`: the key store holds the private
//! key and the certificate chain, the trust store the CA certificates. JKS and PKCS12 stores are
//! refused with the commands that convert them. As in ZooKeeper, `clientAuth` defaults to `need`,
//! `hostnameVerification` to true (checked against the peer's address, for quorum peers in both
//! directions and never for clients), and the protocol to TLSv1.2 unless `enabledProtocols` or
//! `protocol` say otherwise.

use super::stream::Stream;
use crate::config::Config;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::io;
use std::net::{IpAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;

/// `ssl.clientAuth` / `ssl.quorum.clientAuth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Want,
    Need,
}

/// One family of settings (`ssl.` or `ssl.quorum.`), read and loaded.
struct Settings {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Option<Arc<RootCertStore>>,
    client_auth: ClientAuth,
    hostname_verification: bool,
    versions: Vec<&'static SupportedProtocolVersion>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The store type ZooKeeper would use: `<prefix>Store.type`, else from the file extension.
fn store_type(cfg: &Config, key: &str, path: &str) -> String {
    if let Some(t) = cfg.property(&format!("{key}.type")).filter(|t| !t.is_empty()) {
        return t.to_ascii_uppercase();
    }
    match path.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("jks") => "JKS".into(),
        Some("p12" | "pfx") => "PKCS12".into(),
        Some("bcfks") => "BCFKS".into(),
        _ => "PEM".into(),
    }
}

/// Reads a store's path and refuses the types Rookery cannot read, saying how to convert them.
fn store_path(cfg: &Config, key: &str) -> Result<Option<PathBuf>, String> {
    let Some(path) = cfg.property(&format!("{key}.location")).filter(|p| !p.is_empty()) else { return Ok(None) };
    match store_type(cfg, key, path).as_str() {
        "PEM" => Ok(Some(PathBuf::from(path))),
        other => Err(format!(
            "{key}.location={path}: {other} stores are not supported, only PEM ({key}.type=PEM). Convert it: \
             `keytool -importkeystore -srckeystore {path} -destkeystore store.p12 -deststoretype PKCS12` (for JKS), \
             then `openssl pkcs12 -in store.p12 -nodes -out store.pem`"
        )),
    }
}

fn read_pem(key: &str, path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key}.location={}: {e}", path.display()))
}

fn bool_setting(cfg: &Config, key: &str, default: bool) -> Result<bool, String> {
    match cfg.property(key) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(format!("{key}={v}: expected true or false")),
    }
}

/// A key store: the certificate chain and the private key (`None` without `<ks>.location`).
type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn load_identity(cfg: &Config, ks: &str) -> Result<Option<Identity>, String> {
    let Some(key_path) = store_path(cfg, ks)? else { return Ok(None) };
    let pem = read_pem(ks, &key_path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{ks}.location={}: {e}", key_path.display()))?;
    if certs.is_empty() {
        return Err(format!("{ks}.location={}: no CERTIFICATE in the file", key_path.display()));
    }
    if String::from_utf8_lossy(&pem).contains("ENCRYPTED PRIVATE KEY") {
        return Err(format!(
            "{ks}.location={}: encrypted private keys are not supported; decrypt it with \
             `openssl pkey -in {0} -out key.pem` and put the key and certificates in one file",
            key_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("{ks}.location={}: no usable private key: {e}", key_path.display()))?;
    Ok(Some((certs, key)))
}

/// A trust store's CA certificates (`None` without `<ts>.location`).
fn load_roots(cfg: &Config, ts: &str) -> Result<Option<Arc<RootCertStore>>, String> {
    let Some(path) = store_path(cfg, ts)? else { return Ok(None) };
    let pem = read_pem(ts, &path)?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{ts}.location={}: {e}", path.display()))?;
        store.add(cert).map_err(|e| format!("{ts}.location={}: {e}", path.display()))?;
    }
    if store.is_empty() {
        return Err(format!("{ts}.location={}: no CERTIFICATE in the file", path.display()));
    }
    Ok(Some(Arc::new(store)))
}

/// `<prefix>enabledProtocols` (else `<prefix>protocol`, else TLSv1.2); revocation checks refused.
fn protocol_versions(cfg: &Config, prefix: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let protocols = cfg
        .property(&format!("{prefix}enabledProtocols"))
        .or(cfg.property(&format!("{prefix}protocol")))
        .unwrap_or("TLSv1.2");
    let mut versions = Vec::new();
    for p in protocols.split(',').map(str::trim) {
        versions.push(match p {
            "TLSv1.2" => &rustls::version::TLS12,
            "TLSv1.3" | "TLS" => &rustls::version::TLS13,
            other => return Err(format!("{prefix}protocol {other}: only TLSv1.2 and TLSv1.3 are supported")),
        });
    }
    for off in ["crl", "ocsp"] {
        if bool_setting(cfg, &format!("{prefix}{off}"), false)? {
            return Err(format!("{prefix}{off}=true: revocation checking is not supported by Rookery"));
        }
    }
    Ok(versions)
}

impl Settings {
    fn load(cfg: &Config, prefix: &str) -> Result<Settings, String> {
        let ks = format!("{prefix}keyStore");
        let (certs, key) = load_identity(cfg, &ks)?.ok_or_else(|| format!("{ks}.location is required for TLS"))?;
        let roots = load_roots(cfg, &format!("{prefix}trustStore"))?;
        let client_auth = match cfg.property(&format!("{prefix}clientAuth")).map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("need") => ClientAuth::Need,
            Some("want") => ClientAuth::Want,
            Some("none") => ClientAuth::None,
            Some(v) => return Err(format!("{prefix}clientAuth={v}: expected none, want or need")),
        };
        let hostname_verification = bool_setting(cfg, &format!("{prefix}hostnameVerification"), true)?;
        let versions = protocol_versions(cfg, prefix)?;
        Ok(Settings { certs, key, roots, client_auth, hostname_verification, versions })
    }

    /// The verifier of peers' certificates, or an error if client certificates are asked for
    /// without a trust store.
    fn client_verifier(&self, prefix: &str, peer: Option<IpAddr>) -> Result<Arc<dyn ClientCertVerifier>, String> {
        if self.client_auth == ClientAuth::None {
            return Ok(WebPkiClientVerifier::no_client_auth());
        }
        let roots = self.roots.clone().ok_or_else(|| {
            format!("{prefix}trustStore.location is required to check client certificates ({prefix}clientAuth=none turns them off)")
        })?;
        let mut b = WebPkiClientVerifier::builder_with_provider(roots, provider());
        if self.client_auth == ClientAuth::Want {
            b = b.allow_unauthenticated();
        }
        let inner = b.build().map_err(|e| format!("{prefix}trustStore.location: {e}"))?;
        match peer {
            Some(ip) if self.hostname_verification => Ok(Arc::new(PeerAddressVerifier { inner, ip })),
            _ => Ok(inner),
        }
    }

    fn server_config(&self, verifier: Arc<dyn ClientCertVerifier>) -> Result<Arc<rustls::ServerConfig>, String> {
        let mut c = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&self.versions)
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.certs.clone(), self.key.clone_key())
            .map_err(|e| format!("key store: {e}"))?;
        // No resumption tickets: every connection shows its certificate.
        c.send_tls13_tickets = 0;
        Ok(Arc::new(c))
    }
}

/// The handshake signature checks of a verifier that wraps WebPKI's (`self.inner`), unchanged.
macro_rules! delegate_signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls12_signature(m, c, d)
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls13_signature(m, c, d)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.inner.supported_verify_schemes()
        }
    };
}

/// A client certificate must also name the address it connects from (ZooKeeper's
/// `ZKTrustManager.checkClientTrusted` with hostname verification, used between quorum peers).
#[derive(Debug)]
struct PeerAddressVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    ip: IpAddr,
}

fn names_address(cert: &CertificateDer<'_>, ip: IpAddr) -> Result<(), rustls::Error> {
    let ee = webpki::EndEntityCert::try_from(cert).map_err(|e| rustls::Error::General(e.to_string()))?;
    ee.verify_is_valid_for_subject_name(&ServerName::IpAddress(ip.into()))
        .map_err(|_| rustls::Error::General(format!("certificate does not name {ip} (hostnameVerification)")))
}

impl ClientCertVerifier for PeerAddressVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        names_address(end_entity, self.ip)?;
        Ok(ok)
    }
    delegate_signature_checks!();
}

/// The server side of the secure client port.
pub struct ClientTls {
    config: Arc<rustls::ServerConfig>,
}

impl ClientTls {
    /// From `ssl.*`, when `secureClientPort` or `client.portUnification` asks for TLS.
    pub fn from_config(cfg: &Config) -> Result<Option<ClientTls>, String> {
        let secure_port = cfg.property("secureClientPort").is_some_and(|p| p != "0");
        let unified = bool_setting(cfg, "client.portUnification", false)?;
        if !secure_port && !unified {
            return Ok(None);
        }
        let s = Settings::load(cfg, "ssl.")?;
        let verifier = s.client_verifier("ssl.", None)?;
        Ok(Some(ClientTls { config: s.server_config(verifier)? }))
    }

    pub fn accept(&self, tcp: TcpStream) -> io::Result<Stream> {
        let conn = rustls::ServerConnection::new(self.config.clone()).map_err(io::Error::other)?;
        Ok(Stream::tls(tcp, conn.into()))
    }
}

/// TLS between quorum peers (`sslQuorum=true`): both ends show certificates from the same trust
/// store, each checked against the other's address unless `ssl.quorum.hostnameVerification=false`.
pub struct QuorumTls {
    settings: Settings,
    client: Arc<rustls::ClientConfig>,
}

impl QuorumTls {
    pub fn from_config(cfg: &Config) -> Result<Option<Arc<QuorumTls>>, String> {
        if !bool_setting(cfg, "sslQuorum", false)? {
            return Ok(None);
        }
        let settings = Settings::load(cfg, "ssl.quorum.")?;
        let roots = settings.roots.clone().ok_or("ssl.quorum.trustStore.location is required with sslQuorum=true")?;
        settings.client_verifier("ssl.quorum.", None)?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| format!("ssl.quorum.trustStore.location: {e}"))?;
        let verifier = Arc::new(ServerVerifier { inner: verifier, names: settings.hostname_verification, also: None });
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&settings.versions)
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(settings.certs.clone(), settings.key.clone_key())
            .map_err(|e| format!("ssl.quorum.keyStore.location: {e}"))?;
        Ok(Some(Arc::new(QuorumTls { settings, client: Arc::new(client) })))
    }

    /// The accepting side of a quorum or election connection.
    pub fn accept(&self, tcp: TcpStream) -> io::Result<Stream> {
        let ip = tcp.peer_addr()?.ip();
        let verifier = self.settings.client_verifier("ssl.quorum.", Some(ip)).map_err(io::Error::other)?;
        let config = self.settings.server_config(verifier).map_err(io::Error::other)?;
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(Stream::tls(tcp, conn.into()))
    }

    /// The connecting side: the peer's certificate must name the address connected to.
    pub fn connect(&self, tcp: TcpStream) -> io::Result<Stream> {
        let ip = tcp.peer_addr()?.ip();
        let conn = rustls::ClientConnection::new(self.client.clone(), ServerName::IpAddress(ip.into()))
            .map_err(io::Error::other)?;
        Ok(Stream::tls(tcp, conn.into()))
    }
}

/// A client's side of the secure client port (the Java client's `zookeeper.client.secure=true`
/// with `ClientX509Util`'s `zookeeper.ssl.*` keys): the trust store is required (Rookery has no
/// system CA store to fall back on), the key store only when the server asks for a certificate;
/// the server's certificate must name the address connected to or the host as given (as
/// `ZKTrustManager` checks the address, then the name), unless
/// `zookeeper.ssl.hostnameVerification=false`.
#[derive(Debug)]
pub struct SecureClient {
    config: rustls::ClientConfig,
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    names: bool,
}

impl SecureClient {
    /// From `cfg`'s properties (`client.secure`, `ssl.*`, with or without `zookeeper.`).
    pub fn from_config(cfg: &Config) -> Result<Option<SecureClient>, String> {
        if !bool_setting(cfg, "client.secure", false)? {
            return Ok(None);
        }
        let roots = load_roots(cfg, "ssl.trustStore")?
            .ok_or("zookeeper.client.secure=true needs zookeeper.ssl.trustStore.location (the CA certificates, PEM)")?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| format!("ssl.trustStore.location: {e}"))?;
        let names = bool_setting(cfg, "ssl.hostnameVerification", true)?;
        let server_verifier = ServerVerifier { inner: verifier.clone(), names, also: None };
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&protocol_versions(cfg, "ssl.")?)
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(server_verifier));
        let config = match load_identity(cfg, "ssl.keyStore")? {
            Some((certs, key)) => {
                builder.with_client_auth_cert(certs, key).map_err(|e| format!("ssl.keyStore.location: {e}"))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Some(SecureClient { config, webpki: verifier, names }))
    }

    /// TLS over `tcp`, connected to `host` as given (a name or an address).
    pub fn connect(&self, tcp: TcpStream, host: &str) -> io::Result<Stream> {
        let ip = ServerName::IpAddress(tcp.peer_addr()?.ip().into());
        let name = ServerName::try_from(host.to_owned()).unwrap_or_else(|_| ip.clone());
        let mut config = self.config.clone();
        let verifier = ServerVerifier { inner: self.webpki.clone(), names: self.names, also: Some(ip) };
        config.dangerous().set_certificate_verifier(Arc::new(verifier));
        let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(io::Error::other)?;
        Ok(Stream::tls(tcp, conn.into()))
    }
}

/// WebPKI's server certificate check, with the name check dropped when hostname verification
/// is off, and passed by a certificate that names `also` instead of the connection's name.
#[derive(Debug)]
struct ServerVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    names: bool,
    also: Option<ServerName<'static>>,
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let wrong_name = |r: &Result<ServerCertVerified, rustls::Error>| {
            matches!(
                r,
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
                ))
            )
        };
        let mut verified = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        if let (true, Some(also)) = (wrong_name(&verified), &self.also) {
            verified = self.inner.verify_server_cert(end_entity, intermediates, also, ocsp, now);
        }
        match verified {
            r if wrong_name(&r) && !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    delegate_signature_checks!();
}
