//! Security through real clients. Quotas enforced (kazoo; zkCli's quota commands are compared
//! in tests/rookery_cli.rs). SASL DIGEST-MD5 with zkCli.sh (Java's SASL client; kazoo's is
//! tests/kazoo/sasl.py). TLS: the secure client port with kazoo, openssl s_client and zkCli.sh
//! (ZooKeeper's Netty client with PEM stores), x509 identities and ACLs, the failure paths
//! (another CA, an expired certificate, no certificate, plain text on the TLS port), port
//! unification, stores Rookery refuses at start-up, and a 3-server ensemble with sslQuorum=true
//! that a server with a certificate from another CA cannot join.
//!
//! Certificates are made fresh for each test by tests/tls/certs.py (Python's `cryptography`, in
//! the project's virtualenv: `make deps`).

mod common;

use common::ensemble::{reserve_ports, Ensemble};
use common::{wait_until, Server, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Time allowed for an election, a handshake, a client to connect.
const T: Duration = Duration::from_secs(30);

fn python() -> PathBuf {
    let py = common::root().join(".venv/bin/python");
    assert!(py.exists(), "{} is missing: run `make deps`", py.display());
    py
}

/// A directory with the PEM files of tests/tls/certs.py.
fn certs() -> TempDir {
    let dir = TempDir::new("certs");
    let out = Command::new(python())
        .arg(common::root().join("tests/tls/certs.py"))
        .arg(&dir.0)
        .output()
        .expect("run certs.py");
    assert!(out.status.success(), "certs.py failed: {}", String::from_utf8_lossy(&out.stderr));
    dir
}

/// zoo.cfg lines for a TLS client port on a port reserved now, with the test CA.
fn secure_port_cfg(certs: &Path, extra: &str) -> String {
    let port = reserve_ports(1)[0].local_addr().unwrap().port();
    format!(
        "secureClientPort={port}\nssl.keyStore.location={0}/server.pem\nssl.keyStore.type=PEM\n\
         ssl.trustStore.location={0}/ca.pem\nssl.trustStore.type=PEM\n\
         authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n{extra}",
        certs.display()
    )
}

/// Runs a script of tests/kazoo with `args`; fails with its output and the server log.
fn run_python(script: &str, args: &[String], server: &Server) {
    let out = Command::new(python())
        .arg(common::root().join("tests/kazoo").join(script))
        .args(args)
        .current_dir(common::root().join("tests/kazoo"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{script} failed\n--- stdout\n{}\n--- stderr\n{}\n--- server log\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
}

#[test]
fn secure_client_port_with_kazoo_openssl_x509_acls_and_failure_paths() {
    let c = certs();
    let extra = secure_port_cfg(&c.0, "X509AuthenticationProvider.superUser=CN=server,O=Rookery");
    let mut server = Server::start(&extra);
    let tls = server.secure_addr.expect("a TLS port").to_string();
    let args = [tls, server.hostport(), c.0.display().to_string()];
    run_python("tls.py", &args, &server);
    assert!(server.alive(), "the server died");
    let log = server.log();
    assert!(log.contains("TLS handshake failed"), "refused handshakes are logged:\n{log}");
}

/// ZooKeeper's Netty client as zkCli.sh runs it: Debian's zkCli.sh puts only zookeeper.jar on
/// the class path, so the Netty jars are added the way a user would, through CLIENT_JVMFLAGS.
fn zkcli_over_tls(addr: &str, certs: &Path, commands: &[&str]) -> String {
    let jars = [
        "zookeeper.jar",
        "zookeeper-jute.jar",
        "netty-common.jar",
        "netty-buffer.jar",
        "netty-transport.jar",
        "netty-handler.jar",
        "netty-codec.jar",
        "netty-resolver.jar",
        "slf4j-api.jar",
        "log4j-1.2.jar",
        "commons-cli.jar",
    ];
    let cp: Vec<String> = jars.iter().map(|j| format!("/usr/share/java/{j}")).collect();
    let flags = format!(
        "-cp /etc/zookeeper/conf:{} -Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty \
         -Dzookeeper.client.secure=true -Dzookeeper.ssl.keyStore.location={1}/client.pem \
         -Dzookeeper.ssl.keyStore.type=PEM -Dzookeeper.ssl.trustStore.location={1}/ca.pem \
         -Dzookeeper.ssl.trustStore.type=PEM",
        cp.join(":"),
        certs.display()
    );
    zkcli(addr, &flags, "SyncConnected", commands)
}

/// Runs zkCli.sh against `addr` with `CLIENT_JVMFLAGS=flags`; once its output shows `ready`,
/// types `commands` and `quit`. Returns everything it printed.
fn zkcli(addr: &str, flags: &str, ready: &str, commands: &[&str]) -> String {
    let mut child = Command::new("/usr/share/zookeeper/bin/zkCli.sh")
        .args(["-server", addr])
        .env("CLIENT_JVMFLAGS", flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("zkCli.sh (make deps)");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    let deadline = Instant::now() + T;
    while !seen.contains(ready) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push_str(&(line + "\n")),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("zkCli.sh never printed {ready:?}:\n{seen}");
            }
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    for c in commands {
        writeln!(stdin, "{c}").unwrap();
    }
    writeln!(stdin, "quit").unwrap();
    drop(stdin);
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        seen.push_str(&(line + "\n"));
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

/// Runs `rookery cli [ARGS] -server ADDR` with `CLIENT_JVMFLAGS=flags` and `script` on standard
/// input; returns its exit status and what it printed (standard output, then standard error).
fn rookery_cli(addr: &str, flags: &str, args: &[&str], script: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rookery"))
        .arg("cli")
        .args(args)
        .args(["-server", addr])
        .env("CLIENT_JVMFLAGS", flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// `rookery cli` over TLS with the Java client's properties: the client certificate gives the
/// x509 identity; a trust store of another CA, or a server certificate for another address,
/// keeps it out (hostname verification, which `zookeeper.ssl.hostnameVerification=false` turns
/// off); the server goes on serving.
#[test]
fn rookery_cli_over_tls_with_zookeeper_client_properties() {
    let c = certs();
    let server = Server::start(&secure_port_cfg(&c.0, ""));
    let tls = server.secure_addr.expect("a TLS port").to_string();
    let flags = |trust: &str, extra: &str| {
        format!(
            "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty -Dzookeeper.client.secure=true \
             -Dzookeeper.ssl.keyStore.location={0}/client.pem -Dzookeeper.ssl.trustStore.location={0}/{trust} {extra}",
            c.0.display()
        )
    };
    let (code, out) = rookery_cli(&tls, &flags("ca.pem", ""), &[], "create /cli-tls over-tls\nget /cli-tls\nwhoami\n");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\nover-tls\n") && out.contains("x509: CN=client,O=Rookery\n"), "{out}");
    // The certificate names 127.0.0.1 only: reached as `localhost`, the address connected to
    // passes, as in ZooKeeper's ZKTrustManager (address first, then the name).
    let by_name = tls.replace("127.0.0.1", "localhost");
    let (code, out) = rookery_cli(&by_name, &flags("ca.pem", ""), &["-timeout", "5000"], "get /cli-tls\n");
    assert!(code == 0 && out.contains("\nover-tls\n"), "{out}");
    // One command, waiting for a connection that never comes: ConnectionLoss, exit status 1.
    let refused = ["-timeout", "2000", "-waitforconnection"];
    let (code, out) = rookery_cli(&tls, &flags("rogue-ca.pem", ""), &refused, "");
    assert!(code == 1 && out.contains("KeeperErrorCode = ConnectionLoss") && !out.contains("SyncConnected"), "{out}");
    assert!(server.log().contains("UnknownCA"), "{}", server.log());
    let (code, out) = rookery_cli(&tls, "-Dzookeeper.client.secure=true", &[], "");
    assert!(code == 1 && out.contains("needs zookeeper.ssl.trustStore.location"), "{out}");
    // The same settings from a -client-configuration file (ZKClientConfig), which overrides -D.
    let file = c.0.join("client.properties");
    let settings = format!(
        "# zkCli -client-configuration\nzookeeper.client.secure = true\n\
         zookeeper.ssl.keyStore.location={0}/client.pem\nzookeeper.ssl.trustStore.location={0}/ca.pem\n",
        c.0.display()
    );
    std::fs::write(&file, settings).unwrap();
    let with_file = ["-client-configuration", file.to_str().unwrap()];
    let (code, out) = rookery_cli(&tls, &flags("rogue-ca.pem", ""), &with_file, "whoami\n");
    assert!(code == 0 && out.contains("x509: CN=client,O=Rookery\n"), "{out}");
    let (code, out) = rookery_cli(&tls, "", &["-client-configuration", "/nonexistent/client.properties"], "");
    assert!(code == 2 && out.contains("-client-configuration /nonexistent/client.properties: "), "{out}");
    assert_eq!(server.four("ruok"), "imok");

    // A server whose certificate (right CA) names 10.9.9.9, not the address connected to.
    let elsewhere = secure_port_cfg(&c.0, "").replace("/server.pem", "/elsewhere.pem");
    let server = Server::start(&elsewhere);
    let tls = server.secure_addr.expect("a TLS port").to_string();
    let (code, out) = rookery_cli(&tls, &flags("ca.pem", ""), &refused, "");
    assert!(code == 1 && out.contains("ConnectionLoss"), "hostname verification: {out}");
    let (code, out) = rookery_cli(&tls, &flags("ca.pem", "-Dzookeeper.ssl.hostnameVerification=false"), &[], "ls /\n");
    assert!(code == 0 && out.contains("[zookeeper]"), "{out}");
}

#[test]
fn zkcli_with_the_netty_client_and_pem_stores() {
    let c = certs();
    let server = Server::start(&secure_port_cfg(&c.0, ""));
    let tls = server.secure_addr.expect("a TLS port").to_string();
    let out = zkcli_over_tls(&tls, &c.0, &["create /zk-tls over-tls", "get /zk-tls", "whoami"]);
    assert!(out.contains("\nover-tls\n"), "{out}");
    assert!(out.contains("x509: CN=client,O=Rookery"), "{out}");
}

/// A four-letter word over a plain socket.
fn plain_four(addr: &str, word: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(word.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// openssl s_client connected to `addr` with the test client certificate, its stdin open.
fn s_client(addr: &str, certs: &Path) -> std::process::Child {
    Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-connect", addr])
        .arg("-CAfile")
        .arg(certs.join("ca.pem"))
        .arg("-cert")
        .arg(certs.join("client-cert.pem"))
        .arg("-key")
        .arg(certs.join("client-key.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl (make deps)")
}

/// A four-letter word through openssl s_client; the exit status and what came back.
fn tls_four(addr: &str, certs: &Path, word: &str) -> (bool, String) {
    let mut child = s_client(addr, certs);
    child.stdin.take().unwrap().write_all(word.as_bytes()).unwrap();
    let deadline = Instant::now() + T;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "openssl s_client did not finish");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    (status.success(), out)
}

#[test]
fn port_unification_takes_plain_and_tls_clients_on_one_port() {
    let c = certs();
    let extra = format!(
        "client.portUnification=true\nssl.keyStore.location={0}/server.pem\nssl.trustStore.location={0}/ca.pem\n\
         authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider",
        c.0.display()
    );
    let server = Server::start(&extra);
    assert_eq!(plain_four(&server.hostport(), "ruok"), "imok");
    assert_eq!(tls_four(&server.hostport(), &c.0, "ruok"), (true, "imok".to_string()));
    assert_eq!(plain_four(&server.hostport(), "ruok"), "imok");
}

#[test]
fn conf_and_the_admin_server_show_the_secure_client_port() {
    let c = certs();
    let admin = reserve_ports(1)[0].local_addr().unwrap();
    let extra = format!("admin.serverPort={}\nadmin.serverAddress=127.0.0.1", admin.port());
    let mut server = Server::start(&secure_port_cfg(&c.0, &extra));
    let _plain = TcpStream::connect(server.addr).unwrap();
    let secure = server.secure_addr.expect("a TLS port");
    let conf = plain_four(&server.hostport(), "conf");
    assert!(conf.contains(&format!("\nsecureClientPort={}\n", secure.port())), "{conf}");
    let mut tls = s_client(&secure.to_string(), &c.0);
    // (plain connections, secure connections) in the admin server's `cons`.
    let counted = || {
        let mut http = TcpStream::connect(admin).unwrap();
        http.set_read_timeout(Some(T)).unwrap();
        http.write_all(b"GET /commands/cons HTTP/1.0\r\n\r\n").unwrap();
        let mut body = String::new();
        let _ = http.read_to_string(&mut body);
        let (plain, secure) = body.split_once("\"secure_connections\"").expect("secure_connections listed");
        (plain.matches("remote_socket_address").count(), secure.matches("remote_socket_address").count())
    };
    assert!(wait_until(T, || counted() == (1, 1)), "cons counted {:?}", counted());
    tls.kill().unwrap();
    tls.wait().unwrap();
    assert!(wait_until(T, || counted() == (1, 0)), "cons counted {:?}", counted());
    assert!(server.alive());
}

/// Starts the server on `extra` and expects it to exit at once with `message` on stderr.
fn refused_at_start(extra: &str, message: &str) {
    let dir = TempDir::new("tls-bad");
    let cfg = dir.0.join("zoo.cfg");
    std::fs::write(&cfg, format!("dataDir={}\nclientPort=0\n{extra}\n", dir.0.join("data").display())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rookery")).arg("server").arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with {extra}");
    assert!(stderr.contains(message), "expected {message:?} in:\n{stderr}");
}

#[test]
fn stores_rookery_cannot_read_are_refused_with_what_to_do() {
    let c = certs();
    let port = reserve_ports(1)[0].local_addr().unwrap().port();
    refused_at_start(
        &format!("secureClientPort={port}\nssl.keyStore.location=/etc/keystore.jks\nssl.keyStore.password=x"),
        "JKS stores are not supported, only PEM (ssl.keyStore.type=PEM). Convert it: `keytool -importkeystore",
    );
    refused_at_start(
        &format!("secureClientPort={port}\nssl.keyStore.location=/k.p12\nssl.keyStore.type=PKCS12"),
        "PKCS12 stores are not supported",
    );
    refused_at_start(&format!("secureClientPort={port}"), "ssl.keyStore.location is required for TLS");
    refused_at_start(
        &format!("secureClientPort={port}\nssl.keyStore.location={}/server.pem", c.0.display()),
        "ssl.trustStore.location is required to check client certificates",
    );
    refused_at_start(
        &format!("sslQuorum=true\nssl.quorum.keyStore.location={}/server.pem", c.0.display()),
        "ssl.quorum.trustStore.location is required with sslQuorum=true",
    );
}

#[test]
fn kerberos_and_missing_jaas_files_are_refused_at_start() {
    let dir = TempDir::new("krb");
    let jaas = dir.0.join("jaas.conf");
    std::fs::write(
        &jaas,
        "Server {\n  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=true\n  \
         keyTab=\"/etc/zk.keytab\"\n  principal=\"zookeeper/host@REALM\";\n};\n",
    )
    .unwrap();
    refused_at_start(
        &format!("java.security.auth.login.config={}", jaas.display()),
        "the SASL mechanism GSSAPI (Kerberos) is not supported by Rookery",
    );
    refused_at_start(
        &format!("java.security.auth.login.config={}", dir.0.join("missing.conf").display()),
        "java.security.auth.login.config: cannot read",
    );
    std::fs::write(&jaas, "Client { m required; };").unwrap();
    let named = format!("sasl.serverconfig=ZkServer\njava.security.auth.login.config={}", jaas.display());
    refused_at_start(&named, "no 'ZkServer' section");
}

#[test]
fn ssl_quorum_ensemble_refuses_a_server_with_another_ca_until_it_has_the_right_one() {
    let c = certs();
    let mut e = Ensemble::prepare(3, &ssl_quorum_cfg(&c.0));
    // Server 3 shows a certificate from another CA (and trusts only that CA).
    let cfg3 = e.member(3).cfg_path();
    let text = std::fs::read_to_string(&cfg3).unwrap();
    let rogue = text
        .replace(&format!("{}/server.pem", c.0.display()), &format!("{}/rogue.pem", c.0.display()))
        .replace(&format!("{}/ca.pem", c.0.display()), &format!("{}/rogue-ca.pem", c.0.display()));
    std::fs::write(&cfg3, rogue).unwrap();
    e.start_all();
    let leader = e.wait_for_leader_among(&[1, 2], T);
    let follower = if leader == 1 { 2 } else { 1 };
    e.wait_for_mode(follower, Some("follower"), T);
    let mut client = e.client(follower);
    client.create("/over-tls", b"quorum", 0).unwrap();
    let mut leader_client = e.client(leader);
    leader_client.sync("/").unwrap();
    assert_eq!(leader_client.get_data("/over-tls", false).unwrap().0.as_deref(), Some(&b"quorum"[..]));
    // Server 3 never joins: it stays without a quorum while the other two serve.
    e.assert_no_quorum_for(&[3], Duration::from_secs(3));
    assert!(
        wait_until(T, || e.log(3).contains("TLS") || e.log(1).contains("TLS") || e.log(2).contains("TLS")),
        "no TLS refusal in the logs"
    );
    assert!(e.mode(follower).as_deref() == Some("follower"));

    // Given the right certificate, server 3 joins and catches up (a megabyte over TLS).
    let value = vec![b'z'; 4096];
    for i in 0..256 {
        client.create(&format!("/over-tls/{i}"), &value, 0).unwrap();
    }
    e.kill(3);
    std::fs::write(&cfg3, text).unwrap();
    e.start_member(3);
    e.wait_for_mode(3, Some("follower"), T);
    let mut third = e.client(3);
    third.sync("/").unwrap();
    assert_eq!(third.get_children("/over-tls", false).unwrap().len(), 256);
    assert_eq!(third.get_data("/over-tls/255", false).unwrap().0, Some(value));
}

/// A server with tests/kazoo/sasl_jaas.conf's users (bob/bobsecret among them).
fn sasl_server() -> Server {
    let jaas = common::root().join("tests/kazoo/sasl_jaas.conf");
    Server::start(&format!(
        "java.security.auth.login.config={}\n\
         authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
        jaas.display()
    ))
}

/// A JAAS file in `dir` whose `Client` section logs in as bob with `password`; returns the
/// `-D` flag that names it.
fn client_jaas(dir: &TempDir, password: &str) -> String {
    let path = dir.0.join(format!("client-{password}.conf"));
    let section = format!(
        "Client {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
         username=\"bob\"\n  password=\"{password}\";\n}};\n"
    );
    std::fs::write(&path, section).unwrap();
    format!("-Djava.security.auth.login.config={}", path.display())
}

#[test]
fn zkcli_logs_in_with_sasl_digest_md5_and_a_wrong_password_fails() {
    let dir = TempDir::new("jaas");
    let server = sasl_server();
    let out = zkcli(
        &server.hostport(),
        &client_jaas(&dir, "bobsecret"),
        "SaslAuthenticated",
        &["whoami", "create /java-sasl x sasl:bob:cdrwa", "getAcl /java-sasl"],
    );
    assert!(out.contains("sasl: bob"), "{out}");
    assert!(out.contains("'sasl,'bob\n: cdrwa"), "{out}");
    let out = zkcli(&server.hostport(), &client_jaas(&dir, "wrong"), "AuthFailed", &[]);
    assert!(out.contains("state:AuthFailed"), "{out}");
    assert_eq!(server.four("ruok"), "imok", "the server keeps serving");
    assert!(server.log().contains("client failed to SASL authenticate"), "{}", server.log());
}

/// `rookery cli` reads the same JAAS `Client` section from CLIENT_JVMFLAGS as zkCli.sh and
/// prints what zkCli printed in the test above.
#[test]
fn rookery_cli_logs_in_with_sasl_from_client_jvmflags_as_zkcli() {
    let dir = TempDir::new("jaas-cli");
    let server = sasl_server();
    let cli = |password: &str, script: &str| {
        rookery_cli(&server.hostport(), &format!("-Xmx64m {}", client_jaas(&dir, password)), &[], script).1
    };
    let out = cli("bobsecret", "whoami\ncreate /cli-sasl x sasl:bob:cdrwa\ngetAcl /cli-sasl\n");
    let logged_in = "WatchedEvent state:SyncConnected type:None path:null\n\nWATCHER::\n\n\
                     WatchedEvent state:SaslAuthenticated type:None path:null\n";
    assert!(out.contains(logged_in), "{out}");
    assert!(out.contains("Auth scheme: User\nip: 127.0.0.1\nsasl: bob\n"), "{out}");
    assert!(out.contains("'sasl,'bob\n: cdrwa\n") && out.contains("Created /cli-sasl"), "{out}");
    let out = cli("wrong", "ls /\nls /\n");
    assert!(
        out.contains("WatchedEvent state:AuthFailed type:None path:null") && out.contains("Not connected"),
        "{out}"
    );
    assert!(!out.contains("SaslAuthenticated") && !out.contains("[zookeeper"), "{out}");
    assert_eq!(server.four("ruok"), "imok", "the server keeps serving");
}

#[test]
fn quotas_enforced_through_kazoo_and_recounted_after_a_restart() {
    let server = Server::start("enforceQuota=true");
    run_python("quota.py", &[server.hostport(), "setup".into()], &server);
    let log = server.log();
    assert!(log.contains("Quota exceeded: /hard [current count=4, hardCountLimit=3]"), "{log}");
    assert!(log.contains("Quota exceeded: /soft [current count=2, softCountLimit=1]"), "soft limits warn:\n{log}");
    let server = server.restart();
    run_python("quota.py", &[server.hostport(), "after-restart".into()], &server);
}

/// zoo.cfg lines for sslQuorum with the test CA's server certificate.
fn ssl_quorum_cfg(certs: &Path) -> String {
    format!(
        "sslQuorum=true\nssl.quorum.keyStore.location={0}/server.pem\nssl.quorum.keyStore.type=PEM\n\
         ssl.quorum.trustStore.location={0}/ca.pem\nssl.quorum.trustStore.type=PEM",
        certs.display()
    )
}

#[test]
fn ssl_quorum_hostname_verification_checks_the_peer_address() {
    let c = certs();
    let mut e = Ensemble::prepare(3, &ssl_quorum_cfg(&c.0));
    // Server 3's certificate is from the right CA but names 10.9.9.9, not 127.0.0.1.
    let server_pem = format!("{}/server.pem", c.0.display());
    let elsewhere = format!("{}/elsewhere.pem", c.0.display());
    let cfg3 = e.member(3).cfg_path();
    std::fs::write(&cfg3, std::fs::read_to_string(&cfg3).unwrap().replace(&server_pem, &elsewhere)).unwrap();
    e.start_all();
    let leader = e.wait_for_leader_among(&[1, 2], T);
    e.assert_no_quorum_for(&[3], Duration::from_secs(3));
    assert!(e.mode(leader).as_deref() == Some("leader"));
    // ssl.quorum.hostnameVerification=false everywhere: the address no longer matters.
    for id in e.ids() {
        e.kill(id);
        let cfg = e.member(id).cfg_path();
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, format!("{text}\nssl.quorum.hostnameVerification=false\n")).unwrap();
    }
    e.start_all();
    e.wait_for_leader(T);
    let all = e.ids();
    assert!(
        wait_until(T, || all.iter().all(|&id| matches!(e.mode(id).as_deref(), Some("leader" | "follower")))),
        "modes: {:?}",
        all.iter().map(|&id| e.mode(id)).collect::<Vec<_>>()
    );
}
