//! Connecting to the Docker engine the way the docker CLI does.
//!
//! `DOCKER_HOST` picks the engine (a unix socket by default, the named pipe
//! `npipe:////./pipe/docker_engine` on Windows, or `tcp://host:port`);
//! `DOCKER_TLS_VERIFY` with `DOCKER_CERT_PATH` (`key.pem`, `cert.pem`, `ca.pem`) turns
//! on TLS. More engines are named in the config (`[engines.NAME]`), with their own
//! address and TLS files. The API version is negotiated at each connect: engines as
//! old as API 1.41 are common, and a client that speaks a newer version is refused.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bollard::{ClientVersion, Docker};

use super::config::{check_public_host, EngineTarget, TlsFiles, DEFAULT_ENGINE};
use super::errors::root_cause;
use super::identity;

/// Where the engine listens when `DOCKER_HOST` is not set, as the docker CLI has it.
#[cfg(not(windows))]
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// Where the engine listens when `DOCKER_HOST` is not set, as the docker CLI has it.
#[cfg(windows)]
pub const DEFAULT_HOST: &str = "npipe:////./pipe/docker_engine";

/// How long to wait for the engine to answer the version handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Engine calls such as `wait` legitimately block for long; the run's own deadline,
/// not the client's, decides when to give up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// An engine, connected now or on its first call (see [`Engine::lazy`]).
#[derive(Clone)]
pub struct Engine {
    /// The engine's name: `default`, or its `[engines.NAME]` in the config.
    pub name: String,
    /// The client, once the version handshake is done.
    client: Arc<tokio::sync::OnceCell<Docker>>,
    /// Where to connect on first use; none for an engine made connected.
    target: Option<Arc<EngineTarget>>,
    /// The address we connected to, for messages.
    pub address: String,
    /// The host where published ports can be reached from this machine.
    pub published_host: String,
    /// The name or address people reach published ports at (see [`public_host`]).
    pub public_host: String,
    /// What `docker info` told of the engine (see [`super::identity`]).
    identity: Arc<identity::Known>,
}

impl Engine {
    /// An engine with a client that is connected already.
    pub fn new(name: String, docker: Docker, address: String) -> Engine {
        Engine {
            name,
            client: Arc::new(tokio::sync::OnceCell::new_with(Some(docker))),
            target: None,
            published_host: published_host(&address),
            public_host: public_host(&address, None),
            address,
            identity: Arc::default(),
        }
    }

    /// An engine that connects (and negotiates the API version) on its first call, so
    /// a run that makes no Docker call, or fails before its first, never waits for the
    /// handshake. What can be checked without the engine is checked now: the address's
    /// form and the TLS files.
    pub fn lazy(target: &EngineTarget) -> Result<Engine> {
        check_target(target)?;
        Ok(Engine {
            name: target.name.clone(),
            client: Arc::default(),
            target: Some(Arc::new(target.clone())),
            published_host: published_host(&target.host),
            public_host: public_host(&target.host, target.public_host.as_deref()),
            address: target.host.clone(),
            identity: Arc::default(),
        })
    }

    /// Whether a call has reached the engine, or could have: a client was made.
    pub fn connected(&self) -> bool {
        self.client.initialized()
    }

    /// The client, connecting first if this is the first call. An engine that cannot
    /// be reached is the contract's `engine-unavailable`, with the handshake's words.
    pub async fn docker(&self) -> Result<&Docker, crate::contract::bindings::docker::DockerError> {
        self.client
            .get_or_try_init(|| async {
                let Some(target) = &self.target else {
                    return Err(crate::contract::bindings::docker::DockerError::EngineError(
                        format!("engine `{}` has no client", self.name),
                    ));
                };
                handshake(target).await.map_err(|e| {
                    crate::contract::bindings::docker::DockerError::EngineUnavailable(format!(
                        "{e:#}"
                    ))
                })
            })
            .await
    }

    /// What tells this engine from any other (see [`identity::key_of`]). Asked on
    /// first use and kept, so a quota kept per engine holds for every process and
    /// config that reaches it.
    pub async fn id(&self) -> Result<&str, crate::contract::bindings::docker::DockerError> {
        self.identity
            .key
            .get_or_try_init(|| async {
                let info = self.info().await?;
                identity::key_of(&info).ok_or_else(|| {
                    crate::contract::bindings::docker::DockerError::EngineError(format!(
                        "engine `{}` gave no ID or data root in its info",
                        self.name
                    ))
                })
            })
            .await
            .map(String::as_str)
    }

    /// Whether the engine is a swarm manager: known from its info (asked with its
    /// id, so most calls find it known), or asked now.
    pub async fn is_swarm_manager(
        &self,
    ) -> Result<bool, crate::contract::bindings::docker::DockerError> {
        match self.identity.role() {
            Some(manager) => Ok(manager),
            None => Ok(identity::is_manager(&self.info().await?)),
        }
    }

    /// The engine's OS type and default isolation: known from its info (asked with
    /// its id, so most calls find it known), or asked now.
    pub async fn os(&self) -> Result<identity::Os, crate::contract::bindings::docker::DockerError> {
        match self.identity.os.get() {
            Some(os) => Ok(os.clone()),
            None => Ok(identity::os_of(&self.info().await?)),
        }
    }

    /// An answer showed the engine's swarm role: remember it.
    pub fn note_swarm_manager(&self, manager: bool) {
        self.identity.note_role(manager);
    }

    /// `docker info`, noting the swarm role it shows.
    async fn info(
        &self,
    ) -> Result<bollard::models::SystemInfo, crate::contract::bindings::docker::DockerError> {
        let info = self
            .docker()
            .await?
            .info()
            .await
            .map_err(|e| self.fail(e))?;
        self.identity.note_role(identity::is_manager(&info));
        let _ = self.identity.os.set(identity::os_of(&info));
        Ok(info)
    }

    /// The contract's error for a failed call to this engine.
    pub fn fail(
        &self,
        err: bollard::errors::Error,
    ) -> crate::contract::bindings::docker::DockerError {
        super::errors::from_bollard(err, &self.address)
    }

    /// Where the engine listens, when it is reached without TLS.
    pub(super) fn plain_endpoint(&self) -> Option<Endpoint> {
        let target = self.target.as_ref()?;
        if target.tls.is_some() {
            return None;
        }
        Endpoint::parse(&target.host)
    }

    /// Whether the engine runs on this machine, so that its containers' own
    /// addresses on their bridge networks can be reached from here.
    pub fn is_local(&self) -> bool {
        self.address.starts_with("unix://")
            || self.address.starts_with("npipe://")
            || self
                .published_host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
            || self.published_host == "localhost"
    }

    /// Success for calls whose target is already as asked: the engine answers
    /// 304 Not Modified when starting a running container or stopping a stopped one.
    pub fn ok_if_unchanged(
        &self,
        result: Result<(), bollard::errors::Error>,
    ) -> Result<(), crate::contract::bindings::docker::DockerError> {
        match result {
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            other => other.map_err(|e| self.fail(e)),
        }
    }
}

/// The engine address from the environment, as the docker CLI reads it.
pub fn address_from_env() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

/// The host on which the engine publishes ports: the engine's own host for a TCP
/// address, this machine for a local socket.
pub fn published_host(address: &str) -> String {
    let rest = ["tcp://", "http://", "https://"]
        .iter()
        .find_map(|scheme| address.strip_prefix(scheme));
    let Some(rest) = rest else {
        return "127.0.0.1".to_string();
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host == "0.0.0.0" {
        "127.0.0.1".to_string()
    } else {
        host.to_string()
    }
}

/// The name or address people reach an engine's published ports at: the config's
/// `public_host`, else the host of a tcp:// engine, else this machine's name (so a URL
/// made for someone at another desk opens this machine, not theirs). `localhost` only
/// when the machine's name cannot be read.
pub fn public_host(address: &str, configured: Option<&str>) -> String {
    if let Some(host) = configured {
        return host.to_string();
    }
    if ["tcp://", "http://", "https://"]
        .iter()
        .any(|scheme| address.starts_with(scheme))
    {
        return published_host(address);
    }
    gethostname::gethostname()
        .into_string()
        .ok()
        .filter(|name| check_public_host(name).is_ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The default engine with what the config says of it: the `public_host` its
/// published ports are reached at.
pub fn default_target_in(public_host: Option<&str>) -> EngineTarget {
    EngineTarget {
        public_host: public_host.map(str::to_string),
        ..default_target()
    }
}

/// The default engine, as the docker CLI finds it: `DOCKER_HOST`, and TLS when
/// `DOCKER_TLS_VERIFY` is set, with the files of `DOCKER_CERT_PATH` (else `~/.docker`).
pub fn default_target() -> EngineTarget {
    let tls = std::env::var("DOCKER_TLS_VERIFY")
        .is_ok_and(|v| !v.is_empty())
        .then(|| {
            let dir = std::env::var_os("DOCKER_CERT_PATH")
                .filter(|d| !d.is_empty())
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".docker"))
                })
                .unwrap_or_default();
            TlsFiles {
                ca: dir.join("ca.pem"),
                cert: dir.join("cert.pem"),
                key: dir.join("key.pem"),
            }
        });
    EngineTarget {
        name: DEFAULT_ENGINE.to_string(),
        host: address_from_env(),
        tls,
        public_host: None,
    }
}

/// Connect to `target` and negotiate the API version with it: engines of different
/// versions in one config each get their own.
///
/// A plain socket or TCP engine is asked with `GET /_ping`, whose `API-Version`
/// header names the newest version it speaks: one quick round trip, where the
/// client library's own negotiation asks `/version`, which an engine can take tens of
/// milliseconds to answer. TLS engines go through the library's negotiation.
pub async fn connect_to(target: &EngineTarget) -> Result<Engine> {
    let engine = Engine::lazy(target)?;
    if let Err(e) = engine.docker().await {
        anyhow::bail!("{}", super::errors::case_and_message(&e).1);
    }
    Ok(engine)
}

/// The failure to reach `target`, named as the user knows it.
fn cannot_reach(target: &EngineTarget, detail: &str) -> anyhow::Error {
    let text = super::errors::describe_unreachable(&target.host, detail);
    if target.name == DEFAULT_ENGINE {
        anyhow::anyhow!(text)
    } else {
        anyhow::anyhow!("engine `{}`: {text}", target.name)
    }
}

/// What can be wrong with `target` before any connection: an address of no known
/// form, a TLS file that is not there.
fn check_target(target: &EngineTarget) -> Result<()> {
    let address = &target.host;
    match (&target.tls, Endpoint::parse(address)) {
        (Some(tls), _) => {
            for (what, path) in [
                ("CA", &tls.ca),
                ("client certificate", &tls.cert),
                ("client key", &tls.key),
            ] {
                if !path.is_file() {
                    anyhow::bail!(
                        "engine `{}` ({address}): its TLS {what} `{}` does not exist; point the engine's TLS settings at the files its admin gave you",
                        target.name,
                        path.display()
                    );
                }
            }
            Ok(())
        }
        (None, Some(_)) => Ok(()),
        (None, None) => Err(cannot_reach(target, &format!("the address {UNKNOWN_FORM}"))),
    }
}

/// Connect to `target` and negotiate the API version: the client, ready for calls.
async fn handshake(target: &EngineTarget) -> Result<Docker> {
    // `Engine::lazy` checked the target already.
    let address = target.host.clone();
    let fail = |detail: String| cannot_reach(target, &detail);
    let docker = match (&target.tls, Endpoint::parse(&address)) {
        (None, Some(endpoint)) => {
            let version = tokio::time::timeout(HANDSHAKE_TIMEOUT, ping(&endpoint))
                .await
                .map_err(|_| fail(format!("no answer in {}s", HANDSHAKE_TIMEOUT.as_secs())))?
                .map_err(fail)?;
            let server = ClientVersion {
                major_version: version.0,
                minor_version: version.1,
            };
            // Speak the older of the engine's version and the client library's.
            let version = if server < *bollard::API_DEFAULT_VERSION {
                server
            } else {
                *bollard::API_DEFAULT_VERSION
            };
            let timeout = REQUEST_TIMEOUT.as_secs();
            match &endpoint {
                #[cfg(unix)]
                Endpoint::Unix(path) => Docker::connect_with_unix(path, timeout, &version),
                #[cfg(windows)]
                Endpoint::Pipe(path) => Docker::connect_with_named_pipe(path, timeout, &version),
                Endpoint::Tcp(_) => Docker::connect_with_http(&address, timeout, &version),
                other => return Err(fail(other.not_here())),
            }
            .map_err(|e| fail(root_cause(&e)))?
        }
        (Some(tls), _) => {
            use_crypto_provider();
            let docker = Docker::connect_with_ssl(
                &address,
                &tls.key,
                &tls.cert,
                &tls.ca,
                REQUEST_TIMEOUT.as_secs(),
                bollard::API_DEFAULT_VERSION,
            )
            .map_err(|e| fail(root_cause(&e)))?;
            // An engine that refuses the client certificate sends an alert and
            // closes; whether the client reads the alert or only the close is a race,
            // so a bare connection failure over TLS names the certificates too.
            let tls_fail = |detail: String| {
                if detail.to_lowercase().contains("certificate") {
                    fail(detail)
                } else {
                    fail(format!(
                        "{detail}; over TLS this is also what an engine that refuses the client certificate looks like: check that it is signed by the CA the engine trusts"
                    ))
                }
            };
            tokio::time::timeout(HANDSHAKE_TIMEOUT, docker.negotiate_version())
                .await
                .map_err(|_| fail(format!("no answer in {}s", HANDSHAKE_TIMEOUT.as_secs())))?
                .map_err(|e| tls_fail(root_cause(&e)))?
        }
        (None, None) => return Err(fail("the address is of no known form".into())),
    };
    Ok(docker)
}

/// Choose rustls's crypto provider for the process, once. Two of its providers are
/// compiled in (bollard asks for ring, the registry client for aws-lc-rs), and rustls
/// then refuses to guess: without this, the first TLS engine connection panics.
fn use_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means a provider is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Where a plain (non-TLS) engine listens.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// A unix socket's path.
    Unix(String),
    /// A Windows named pipe's path, `\\.\pipe\NAME`.
    Pipe(String),
    /// `host:port`
    Tcp(String),
}

/// What an address of no known form is told, after the address.
const UNKNOWN_FORM: &str = "is not unix://, npipe:// nor tcp:// (DOCKER_HOST accepts unix:///path/docker.sock, npipe:////./pipe/NAME on Windows, or tcp://host:port)";

/// Why `address` is no engine this program can reach from this platform, if it is
/// not: for a setting checked when it is given rather than when it is first used.
// The Windows service's `install` checks its engine with it.
#[cfg_attr(not(windows), allow(dead_code))]
pub fn check_address(address: &str) -> Result<(), String> {
    match Endpoint::parse(address) {
        None => Err(format!("`{address}` {UNKNOWN_FORM}")),
        #[cfg(unix)]
        Some(Endpoint::Unix(_)) => Ok(()),
        #[cfg(windows)]
        Some(Endpoint::Pipe(_)) => Ok(()),
        Some(Endpoint::Tcp(_)) => Ok(()),
        #[allow(unreachable_patterns)]
        Some(other) => Err(other.not_here()),
    }
}

impl Endpoint {
    /// The endpoint of an engine address: `unix:///path`, `npipe:////./pipe/NAME` (the
    /// docker CLI's form; `npipe://\\.\pipe\NAME` too), `tcp://host[:port]` (port
    /// 2375 when none is given). Parsed on every platform, so a config names the same
    /// engines wherever it is read; [`Endpoint::not_here`] says which cannot be reached.
    pub(super) fn parse(address: &str) -> Option<Self> {
        if let Some(path) = address.strip_prefix("unix://") {
            return Some(Endpoint::Unix(path.to_string()));
        }
        if let Some(path) = address.strip_prefix("npipe://") {
            let path = path.replace('/', "\\");
            // Only a pipe of this machine: the engine's pipe is not shared over SMB.
            let name = path.strip_prefix("\\\\.\\pipe\\")?;
            return (!name.is_empty() && !name.contains('\\')).then_some(Endpoint::Pipe(path));
        }
        let rest = address
            .strip_prefix("tcp://")
            .or_else(|| address.strip_prefix("http://"))?;
        let authority = rest.split('/').next()?;
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else {
            format!("{authority}:2375")
        };
        Some(Endpoint::Tcp(with_port))
    }

    /// Why this endpoint cannot be reached on this platform (unix sockets are not
    /// Windows', named pipes are Windows' only).
    pub(super) fn not_here(&self) -> String {
        match self {
            Endpoint::Pipe(path) => format!(
                "`{path}` is a Windows named pipe, which exists only on Windows: on this system give unix:///path/docker.sock or tcp://host:port"
            ),
            Endpoint::Unix(path) => format!(
                "`{path}` is a unix socket, which dockwright reaches only on Unix: on Windows give npipe:////./pipe/docker_engine or tcp://host:port"
            ),
            Endpoint::Tcp(address) => format!("`{address}` cannot be reached"),
        }
    }
}

/// `GET /_ping` over a fresh connection; the engine's API version from the answer.
async fn ping(endpoint: &Endpoint) -> Result<(usize, usize), String> {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    async fn ask(mut s: impl AsyncRead + AsyncWrite + Unpin) -> std::io::Result<Vec<u8>> {
        let request = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n";
        let mut answer = Vec::new();
        s.write_all(request).await?;
        // A ping's answer is a few hundred bytes: more is not an engine.
        (&mut s).take(64 * 1024).read_to_end(&mut answer).await?;
        Ok(answer)
    }
    let io = |e: std::io::Error| e.to_string();
    let answer = match endpoint {
        #[cfg(unix)]
        Endpoint::Unix(path) => ask(tokio::net::UnixStream::connect(path).await.map_err(io)?).await,
        #[cfg(windows)]
        Endpoint::Pipe(path) => ask(super::pipe::open(path).await.map_err(io)?).await,
        Endpoint::Tcp(addr) => ask(tokio::net::TcpStream::connect(addr).await.map_err(io)?).await,
        other => return Err(other.not_here()),
    }
    .map_err(io)?;
    api_version_of(&String::from_utf8_lossy(&answer))
}

/// The `API-Version` of an engine's HTTP answer to `/_ping`.
fn api_version_of(answer: &str) -> Result<(usize, usize), String> {
    let head = answer.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.") {
        return Err("the address does not answer as a Docker engine".into());
    }
    if !status.contains(" 200 ") {
        return Err(format!("the engine answered `{}`", status.trim()));
    }
    let version = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| v.trim().to_string())
        .ok_or("the engine's answer names no API version")?;
    let (major, minor) = version
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| format!("the engine's API version `{version}` is not MAJOR.MINOR"))?;
    Ok((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("unix:///var/run/docker.sock"),
            Some(Endpoint::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375"),
            Some(Endpoint::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://docker.lan"),
            Some(Endpoint::Tcp("docker.lan:2375".into()))
        );
        assert_eq!(Endpoint::parse("ssh://x"), None);
    }

    #[test]
    fn named_pipes() {
        let pipe = |p: &str| Some(Endpoint::Pipe(p.into()));
        // The docker CLI's default, and the same pipe written the Windows way.
        assert_eq!(
            Endpoint::parse("npipe:////./pipe/docker_engine"),
            pipe(r"\\.\pipe\docker_engine")
        );
        assert_eq!(
            Endpoint::parse(r"npipe://\\.\pipe\docker_engine"),
            pipe(r"\\.\pipe\docker_engine")
        );
        assert_eq!(
            Endpoint::parse("npipe:////./pipe/dockerDesktopLinuxEngine"),
            pipe(r"\\.\pipe\dockerDesktopLinuxEngine")
        );
        // Another machine's pipe, no name, a path under the pipe: refused.
        for bad in [
            "npipe:////server/pipe/docker_engine",
            "npipe:////./pipe/",
            "npipe:////./pipe/a/b",
            "npipe://docker_engine",
        ] {
            assert_eq!(Endpoint::parse(bad), None, "{bad}");
        }
        #[cfg(not(windows))]
        assert!(Endpoint::parse("npipe:////./pipe/docker_engine")
            .unwrap()
            .not_here()
            .contains("only on Windows"));
        #[cfg(windows)]
        assert!(Endpoint::parse("unix:///var/run/docker.sock")
            .unwrap()
            .not_here()
            .contains("only on Unix"));
    }

    /// An address given for later is checked now, by the rules it will be used by.
    #[test]
    fn an_address_is_checked_for_this_platform() {
        assert_eq!(check_address("tcp://10.0.0.9:2375"), Ok(()));
        assert_eq!(check_address(DEFAULT_HOST), Ok(()));
        let err = check_address("docker.lan:2375").unwrap_err();
        assert!(err.contains("is not unix://, npipe:// nor tcp://"), "{err}");
        #[cfg(not(windows))]
        let elsewhere = "npipe:////./pipe/docker_engine";
        #[cfg(windows)]
        let elsewhere = "unix:///var/run/docker.sock";
        assert!(check_address(elsewhere).unwrap_err().contains("only on"));
    }

    /// The default engine is the docker CLI's: its socket, or on Windows its pipe.
    #[test]
    fn the_default_engine_is_the_docker_clis() {
        let endpoint = Endpoint::parse(DEFAULT_HOST).unwrap();
        #[cfg(windows)]
        assert_eq!(endpoint, Endpoint::Pipe(r"\\.\pipe\docker_engine".into()));
        #[cfg(not(windows))]
        assert_eq!(endpoint, Endpoint::Unix("/var/run/docker.sock".into()));
    }

    #[test]
    fn ping_answers() {
        let ok = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK";
        assert_eq!(api_version_of(ok), Ok((1, 41)));
        assert!(api_version_of("SSH-2.0-OpenSSH")
            .unwrap_err()
            .contains("does not answer as a Docker engine"));
        let err = api_version_of("HTTP/1.1 500 Internal Server Error\r\n\r\n").unwrap_err();
        assert!(err.contains("500"), "{err}");
        assert!(api_version_of("HTTP/1.1 200 OK\r\n\r\nOK")
            .unwrap_err()
            .contains("no API version"));
        assert!(api_version_of("HTTP/1.1 200 OK\r\nApi-Version: x\r\n\r\n").is_err());
    }

    #[test]
    fn public_hosts() {
        // What the config says, whatever the engine.
        assert_eq!(
            public_host("unix:///var/run/docker.sock", Some("dw.lan")),
            "dw.lan"
        );
        assert_eq!(public_host("tcp://10.0.0.9:2376", Some("dw.lan")), "dw.lan");
        // A tcp:// engine's own host.
        assert_eq!(public_host("tcp://build.lan:2376", None), "build.lan");
        // A local socket: this machine's name, not localhost.
        let name = public_host("unix:///var/run/docker.sock", None);
        assert!(check_public_host(&name).is_ok(), "{name}");
        let real = gethostname::gethostname().into_string().unwrap_or_default();
        if !real.is_empty() {
            assert_eq!(name, real);
        }
    }

    #[test]
    fn published_hosts() {
        let cases = [
            ("unix:///var/run/docker.sock", "127.0.0.1"),
            ("tcp://127.0.0.1:2375", "127.0.0.1"),
            ("tcp://docker.example:2376", "docker.example"),
            ("tcp://10.0.0.5", "10.0.0.5"),
            ("https://[::1]:2376/", "::1"),
            ("tcp://0.0.0.0:2375", "127.0.0.1"),
        ];
        for (address, want) in cases {
            assert_eq!(published_host(address), want, "{address}");
        }
    }
}
