//! A PostgreSQL cluster of a test's own (Debian's `postgresql` package): `initdb` and
//! `pg_ctl` as the `postgres` user, on a loopback port and a socket folder of its own,
//! stopped by its pid when dropped. Never the packaged cluster.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One cluster; `dw` is its superuser, trusted on loopback.
pub struct Postgres {
    dir: tempfile::TempDir,
    pub port: u16,
    pid: Option<i32>,
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
        as_postgres(
            &bin("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "dw",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut pg = Postgres {
            dir,
            port,
            pid: None,
        };
        pg.resume();
        pg
    }

    /// Start the cluster (again, after [`Postgres::stop`]) on the same port.
    pub fn resume(&mut self) {
        let data = self.dir.path().join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
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
