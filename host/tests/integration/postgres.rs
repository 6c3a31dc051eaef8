//! A PostgreSQL cluster of a test's own (Debian's `postgresql` package): `initdb` and
//! `pg_ctl` as the `postgres` user, on a loopback port and a socket folder of its own,
//! stopped by its pid when dropped. Never the packaged cluster.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One cluster; `dw` is its superuser, trusted on loopback (or, with TLS, known by
/// [`PASSWORD`] over TLS only).
pub struct Postgres {
    dir: tempfile::TempDir,
    pub port: u16,
    pid: Option<i32>,
    /// More server options (TLS).
    extra: String,
}

/// The superuser's password of a cluster started with [`Postgres::start_tls`].
pub const PASSWORD: &str = "dw-state-secret";

/// `openssl args`, which must succeed.
fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The newest PostgreSQL's program `name` (`/usr/lib/postgresql/<version>/bin`).
fn bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("no /usr/lib/postgresql: install Debian's postgresql package")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .last()
        .expect("no PostgreSQL version installed")
        .join("bin")
        .join(name)
}

/// `program args` as the `postgres` user; its output, or a failure with it.
fn as_postgres(program: &Path, args: &[&str]) -> String {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("cannot run runuser");
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Postgres {
    /// A new cluster, started.
    pub fn start() -> Postgres {
        Self::start_as(false)
    }

    /// A new cluster that takes TCP connections only over TLS (its certificate signed by
    /// [`Postgres::ca`], for 127.0.0.1) and with [`PASSWORD`].
    pub fn start_tls() -> Postgres {
        Self::start_as(true)
    }

    /// A CA (key and certificate, EC P-256) named `name` in `dir`; its certificate's path.
    pub fn make_ca(dir: &Path, name: &str) -> PathBuf {
        let (key, cert) = (
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}.pem")),
        );
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=dockwright test {name}"),
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ]);
        cert
    }

    /// The CA that signed a TLS cluster's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn start_as(tls: bool) -> Postgres {
        // Under /tmp: the `postgres` user must reach it, which it may not under the
        // checkout.
        let dir = tempfile::Builder::new()
            .prefix("dw-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "cannot chown the cluster folder");
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        let host_auth = if tls {
            "--auth-host=scram-sha-256"
        } else {
            "--auth-host=trust"
        };
        let pwfile_arg = format!("--pwfile={}", pwfile.display());
        let mut args = vec![
            "-D",
            data.to_str().unwrap(),
            "--auth-local=trust",
            host_auth,
            "-U",
            "dw",
            "--no-sync",
            "-E",
            "UTF8",
        ];
        if tls {
            args.push(&pwfile_arg);
        }
        Command::new("chown")
            .arg("postgres")
            .arg(&pwfile)
            .status()
            .unwrap();
        as_postgres(&bin("initdb"), &args);
        let mut extra = String::new();
        if tls {
            // TCP only over TLS: every `host` line of the cluster's pg_hba.conf made `hostssl`.
            let hba = data.join("pg_hba.conf");
            let text = std::fs::read_to_string(&hba).unwrap();
            let text: String = text
                .lines()
                .map(|l| match l.strip_prefix("host ") {
                    Some(rest) => format!("hostssl {rest}\n"),
                    None => format!("{l}\n"),
                })
                .collect();
            std::fs::write(&hba, text).unwrap();
            let ca = Self::make_ca(dir.path(), "ca");
            let (key, csr, cert) = (
                dir.path().join("server.key"),
                dir.path().join("server.csr"),
                dir.path().join("server.pem"),
            );
            let san = dir.path().join("san.ext");
            std::fs::write(&san, "subjectAltName=IP:127.0.0.1\n").unwrap();
            openssl(&[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                csr.to_str().unwrap(),
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                csr.to_str().unwrap(),
                "-CA",
                ca.to_str().unwrap(),
                "-CAkey",
                dir.path().join("ca.key").to_str().unwrap(),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                san.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
            ]);
            for file in [&key, &cert] {
                Command::new("chown")
                    .arg("postgres")
                    .arg(file)
                    .status()
                    .unwrap();
            }
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            extra = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert.display(),
                key.display()
            );
        }
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut pg = Postgres {
            dir,
            port,
            pid: None,
            extra,
        };
        pg.resume();
        pg
    }

    /// Start the cluster (again, after [`Postgres::stop`]) on the same port.
    pub fn resume(&mut self) {
        let data = self.dir.path().join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200{}",
            self.port,
            self.dir.path().display(),
            self.extra
        );
        as_postgres(
            &bin("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                self.dir.path().join("log").to_str().unwrap(),
                "-w",
                "-t",
                "120",
                "start",
            ],
        );
        let pidfile = std::fs::read_to_string(data.join("postmaster.pid")).unwrap();
        self.pid = pidfile.lines().next().and_then(|l| l.trim().parse().ok());
        assert!(self.pid.is_some(), "no pid in postmaster.pid: {pidfile}");
    }

    /// Stop the cluster by its pid (a fast shutdown: sessions end), and wait until it
    /// is gone.
    pub fn stop(&mut self) {
        let Some(pid) = self.pid.take() else {
            return;
        };
        // SAFETY: signalling the cluster's postmaster, started above, by its pid.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let started = Instant::now();
        while unsafe { libc::kill(pid, 0) } == 0 {
            if started.elapsed() > Duration::from_secs(120) {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        let name = crate::common::unique("dw").replace('-', "_");
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://dw@127.0.0.1:{}/{database}", self.port)
    }

    /// `sql` run by psql on `database`; what it printed (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .env("PGPASSWORD", PASSWORD)
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "dw",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .args(["-p", &self.port.to_string(), "-d", database, "-c", sql])
            .output()
            .expect("cannot run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The database name of a URL made by [`Postgres::database`].
    pub fn name_of(url: &str) -> &str {
        url.rsplit('/').next().unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
