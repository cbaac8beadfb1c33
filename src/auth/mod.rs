//! Authentication beyond `addauth digest`: which ACL schemes the server knows
//! (`authProvider.N`, ZooKeeper's `ProviderRegistry`), SASL DIGEST-MD5 users from the JAAS file,
//! and the super users of each scheme. Built once from the configuration at start-up.

pub mod digest_md5;
pub mod jaas;
pub mod quorum;
pub mod x509;

use crate::config::{Config, JAAS_LOGIN_CONFIG};
use crate::tree::acl::Providers;
use std::collections::HashMap;
use std::path::Path;

/// The JAAS login module ZooKeeper's Kerberos set-ups name; Rookery does not speak GSSAPI.
const KERBEROS_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";
/// The login module of DIGEST-MD5 users and logins.
pub const DIGEST_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";

/// The server's authentication settings.
#[derive(Clone, Debug, Default)]
pub struct ServerAuth {
    /// The schemes `authProvider.N` registers beyond `ip` and `digest`.
    pub providers: Providers,
    /// DIGEST-MD5 users (`user_<name>="<password>"` in the JAAS `Server` section); `None` when no
    /// JAAS file is configured, and then SASL requests fail with AUTHFAILED, as in ZooKeeper.
    pub sasl_users: Option<HashMap<String, String>>,
    /// `zookeeper.superUser*`: SASL identities granted `super`.
    pub sasl_super_users: Vec<String>,
    /// `zookeeper.X509AuthenticationProvider.superUser`: the certificate subject granted `super`.
    pub x509_super_user: Option<String>,
    /// Messages for the start-up log (unknown provider classes).
    pub warnings: Vec<String>,
}

impl ServerAuth {
    /// Reads the settings (and the JAAS file, if one is named). Errors are fatal at start-up and
    /// say what to fix.
    pub fn from_config(cfg: &Config) -> Result<ServerAuth, String> {
        let mut auth = ServerAuth::default();
        for (key, class) in cfg.properties_with_prefix("authProvider.") {
            match class.rsplit('.').next().unwrap_or("") {
                "SASLAuthenticationProvider" => auth.providers.sasl = true,
                "X509AuthenticationProvider" => auth.providers.x509 = true,
                "DigestAuthenticationProvider" | "IPAuthenticationProvider" => {}
                _ => auth.warnings.push(format!(
                    "{key}={class}: ignored, Rookery cannot load Java authentication providers \
                     (it has ip, digest, sasl and x509)"
                )),
            }
        }
        for (key, user) in cfg.properties_with_prefix("superUser") {
            if !user.is_empty() && key.starts_with("superUser") {
                auth.sasl_super_users.push(user.to_owned());
            }
        }
        auth.x509_super_user = cfg.property("X509AuthenticationProvider.superUser").map(str::to_owned);
        if let Some(file) = cfg.property(JAAS_LOGIN_CONFIG) {
            let named = cfg.property("sasl.serverconfig");
            match sasl_users(jaas_path(file), named.unwrap_or("Server"))? {
                Some(mut users) => {
                    if let Some(pw) = cfg.property("SASLAuthenticationProvider.superPassword") {
                        users.insert("super".into(), pw.to_owned());
                    }
                    auth.sasl_users = Some(users);
                }
                // ZooKeeper goes on without client SASL (the file may be for the quorum's
                // sections only); a section named on purpose must be there.
                None if named.is_some() => {
                    return Err(format!("{file}: no '{}' section (sasl.serverconfig names it)", named.unwrap_or("")))
                }
                // Quorum SASL reads its own sections; without it, say why the file is there at all.
                None if !cfg.flag("quorum.auth.enableSasl") => auth.warnings.push(format!(
                    "{file}: no 'Server' section, so clients cannot log in with SASL (the quorum's sections \
                     are read separately)"
                )),
                None => {}
            }
        }
        Ok(auth)
    }
}

/// The DIGEST-MD5 users of `section` in the JAAS file at `path`, as ZooKeeper's
/// `SaslServerCallbackHandler` collects them (every `user_` option of every entry); `None` if
/// the file has no such section.
fn sasl_users(path: &Path, section: &str) -> Result<Option<HashMap<String, String>>, String> {
    let shown = path.display();
    let sections = read_jaas(path)?;
    let Some((_, entries)) = sections.iter().find(|(name, _)| name == section) else {
        return Ok(None);
    };
    let mut users = HashMap::new();
    for e in entries {
        if e.module == KERBEROS_MODULE {
            return Err(format!(
                "{shown}: section '{section}' uses {KERBEROS_MODULE}: the SASL mechanism GSSAPI (Kerberos) is not \
                 supported by Rookery; use {DIGEST_MODULE} (DIGEST-MD5)"
            ));
        }
        for (k, v) in &e.options {
            if let Some(user) = k.strip_prefix("user_") {
                users.insert(user.to_owned(), v.clone());
            }
        }
    }
    Ok(Some(users))
}

/// The file a `java.security.auth.login.config` value names: Java's `ConfigFile` also takes a
/// leading `=` (replace rather than add to the JVM's own files) and a `file:` URL.
pub fn jaas_path(value: &str) -> &Path {
    let v = value.strip_prefix('=').unwrap_or(value);
    Path::new(v.strip_prefix("file://").or_else(|| v.strip_prefix("file:")).unwrap_or(v))
}

/// The JAAS file at `path`, parsed; the error says which file and what is wrong.
pub fn read_jaas(path: &Path) -> Result<jaas::Sections, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{JAAS_LOGIN_CONFIG}: cannot read {shown}: {e}"))?;
    jaas::parse(&text).map_err(|e| format!("{shown}: {e}"))
}

/// Fresh random text for a DIGEST-MD5 nonce: 16 bytes from the kernel, hex.
pub fn random_nonce() -> std::io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str, dir: &Path) -> Config {
        let text = format!("dataDir={}\n{extra}", dir.display());
        Config::parse(&dir.join("zoo.cfg"), &text).unwrap()
    }

    #[test]
    fn providers_users_and_super_users() {
        let dir = std::env::temp_dir().join(format!("rookery-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let jaas = dir.join("jaas.conf");
        std::fs::write(
            &jaas,
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_bob=\"pw\" user_super=\"s\"; };",
        )
        .unwrap();
        let c = cfg(
            &format!(
                "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n\
                 authProvider.2=com.example.Mine\nzookeeper.superUser=bob\n\
                 SASLAuthenticationProvider.superPassword=s2\n{JAAS_LOGIN_CONFIG}={}\n",
                jaas.display()
            ),
            &dir,
        );
        let a = ServerAuth::from_config(&c).unwrap();
        assert!(a.providers.sasl && !a.providers.x509);
        assert_eq!(a.warnings.len(), 1);
        assert_eq!(a.sasl_super_users, ["bob"]);
        let users = a.sasl_users.unwrap();
        assert_eq!(users["bob"], "pw");
        assert_eq!(users["super"], "s2");

        std::fs::write(&jaas, format!("Server {{ {KERBEROS_MODULE} required keyTab=\"/k\"; }};")).unwrap();
        let e = ServerAuth::from_config(&c).unwrap_err();
        assert!(e.contains("GSSAPI (Kerberos) is not supported"), "{e}");
        std::fs::write(&jaas, "Client { m required; };").unwrap();
        let a = ServerAuth::from_config(&c).unwrap();
        assert!(a.sasl_users.is_none() && a.warnings.iter().any(|w| w.contains("no 'Server' section")));
        let named = cfg(&format!("sasl.serverconfig=Mine\n{JAAS_LOGIN_CONFIG}={}\n", jaas.display()), &dir);
        assert!(ServerAuth::from_config(&named).unwrap_err().contains("no 'Mine' section"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
