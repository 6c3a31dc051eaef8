//! `dockwright state backup FILE` and `state restore FILE`: what an install keeps, in
//! one tar file: the journal (a consistent copy, taken while runs write to it), the
//! config (teams, token hashes), the plugin lock and the signing keys. `state migrate
//! --to URL`: the SQLite journal copied into a PostgreSQL state database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::load;

#[derive(clap::Subcommand, Debug)]
pub enum StateCommand {
    /// Write the journal (a consistent copy, while runs go on), the config, the plugin
    /// lock and the signing keys to one file, readable by its owner only
    Backup {
        /// The backup file to write
        file: PathBuf,
    },
    /// Copy the SQLite journal into a PostgreSQL state database (`[state] url`), row by
    /// row, its schema made or migrated first; copying again adds only what is new
    Migrate {
        /// The database: postgres://USER@HOST:PORT/DATABASE (the password from
        /// $DOCKWRIGHT_STATE_PASSWORD or --password-file)
        #[arg(long)]
        to: String,
        /// The SQLite journal to copy (default: the one the config names)
        #[arg(long)]
        from: Option<PathBuf>,
        /// A file holding the database's password
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// The CA certificates (PEM) that sign the database server's certificate
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// Put a backup's files back where this install keeps them (stop the server first)
    Restore {
        /// The backup file to read
        file: PathBuf,
        /// Replace files that exist
        #[arg(long)]
        force: bool,
    },
}

/// What `state migrate` is told.
pub struct Migration {
    pub to: String,
    pub from: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    pub ca: Option<PathBuf>,
}

/// Copy the SQLite journal into the state database, row by row (see `journal::copy`):
/// a copy interrupted goes on where it stopped, and a second copy adds nothing twice.
pub fn migrate(config_path: Option<&Path>, m: Migration) -> Result<ExitCode> {
    let config = load::load_config(config_path)?;
    let from = m
        .from
        .unwrap_or_else(|| crate::journal::transfer::database_path(config.journal.as_deref()));
    if !from.is_file() {
        bail!(
            "there is no SQLite journal at `{}`: name one with --from",
            from.display()
        );
    }
    // The config's own `[state]`, when it names this database, brings its password file
    // and CA; the flags add to them.
    let known = config.state.filter(|s| s.url == m.to);
    let settings = crate::journal::config::StateSettings {
        url: m.to.clone(),
        password_file: m
            .password_file
            .or_else(|| known.as_ref().and_then(|k| k.password_file.clone())),
        ca: m.ca.or_else(|| known.as_ref().and_then(|k| k.ca.clone())),
    };
    let source = crate::journal::Journal::open(&from)?;
    let target = crate::journal::Journal::connect(&settings)?;
    let name = std::fs::canonicalize(&from).unwrap_or_else(|_| from.clone());
    let copied = crate::journal::copy::copy(&source, &target, &name.display().to_string())?;
    println!(
        "copied {} into {}: {} run(s) added, {} there already ({} rows read)",
        from.display(),
        target.shown(),
        copied.runs,
        copied.present,
        copied.rows
    );
    Ok(ExitCode::SUCCESS)
}

/// The first entry of a backup: what it holds and what made it.
const MANIFEST: &str = "dockwright-backup.json";

#[derive(Serialize, Deserialize)]
struct Manifest {
    /// The dockwright that made it (`dockwright --version`).
    made_by: String,
    made: String,
    /// Each entry's name in the file, with the path it was taken from.
    files: Vec<Kept>,
}

#[derive(Serialize, Deserialize)]
struct Kept {
    name: String,
    from: PathBuf,
}

/// What a backup holds, by its name in the file, and where this install keeps each.
fn places(config_path: Option<&Path>, restoring: bool) -> Result<Vec<(String, PathBuf)>> {
    // A restore onto a machine whose config is missing or broken still knows where
    // the config goes; the journal then goes where the built-in config keeps it.
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let config = match load::load_config(config_path) {
        Err(_) if restoring => crate::run::config::Config::builtin(&cwd),
        loaded => loaded?,
    };
    let journal = config
        .journal
        .clone()
        .unwrap_or_else(crate::util::paths::journal_file);
    let mut places = vec![("journal.db".to_string(), journal)];
    let config_file = config_path
        .map(Path::to_path_buf)
        .unwrap_or_else(crate::util::paths::config_file);
    places.push(("dockwright.toml".to_string(), config_file));
    places.push((
        "dockwright.lock".to_string(),
        crate::plugin::lock::path_for(config_path),
    ));
    let keys = crate::util::paths::keys_dir();
    if let Ok(entries) = std::fs::read_dir(&keys) {
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        places.extend(
            names
                .into_iter()
                .map(|n| (format!("keys/{n}"), keys.join(&n))),
        );
    }
    Ok(places)
}

pub fn backup(config_path: Option<&Path>, file: &Path) -> Result<ExitCode> {
    let places = places(config_path, false)?;
    let scratch = tempfile::tempdir().context("cannot make a scratch folder for the backup")?;
    let mut kept = Vec::new();
    let mut sources = Vec::new();
    for (name, path) in places {
        if name == "journal.db" {
            if !path.exists() {
                continue;
            }
            // A copy consistent at one moment, whatever runs write meanwhile.
            let copy = scratch.path().join("journal.db");
            let journal = crate::journal::Journal::open(&path)?;
            journal.snapshot(&copy)?;
            sources.push((name.clone(), copy));
        } else if path.is_file() {
            sources.push((name.clone(), path.clone()));
        } else {
            continue;
        }
        kept.push(Kept { name, from: path });
    }
    let manifest = Manifest {
        made_by: super::version().to_string(),
        made: crate::journal::now(),
        files: kept,
    };
    let tmp = file.with_extension("partial");
    let written = (|| -> Result<()> {
        let out = private_file(&tmp)?;
        let mut tar = tar::Builder::new(out);
        let text = serde_json::to_vec_pretty(&manifest)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, text.as_slice())?;
        for (name, path) in &sources {
            let mut f = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            tar.append_file(name, &mut f)
                .with_context(|| format!("cannot add {} to the backup", path.display()))?;
        }
        tar.into_inner()?.sync_all()?;
        std::fs::rename(&tmp, file)?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("the backup {} was not written", file.display())));
    }
    let mut out = std::io::stdout().lock();
    for k in &manifest.files {
        writeln!(out, "kept {:<24} from {}", k.name, k.from.display())?;
    }
    writeln!(out, "wrote {}", file.display())?;
    Ok(ExitCode::SUCCESS)
}

pub fn restore(config_path: Option<&Path>, file: &Path, force: bool) -> Result<ExitCode> {
    let places = places(config_path, true)?;
    let mut archive = tar::Archive::new(
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?,
    );
    let mut entries = archive.entries().with_context(|| {
        format!(
            "{} is not a dockwright backup (not a tar file)",
            file.display()
        )
    })?;
    let manifest: Manifest = match entries.next() {
        Some(Ok(entry)) if entry.path().ok().as_deref() == Some(Path::new(MANIFEST)) => {
            serde_json::from_reader(entry)
                .with_context(|| format!("{} has an unreadable {MANIFEST}", file.display()))?
        }
        _ => bail!(
            "{} is not a dockwright backup: it does not start with {MANIFEST} (make one with `dockwright state backup FILE`)",
            file.display()
        ),
    };
    let target = |name: &str| {
        places
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .or_else(|| {
                let key = name.strip_prefix("keys/")?;
                (!key.contains('/') && !key.starts_with('.'))
                    .then(|| crate::util::paths::keys_dir().join(key))
            })
    };
    // Nothing is written until every destination is known and free (or --force).
    for kept in &manifest.files {
        let to = target(&kept.name).ok_or_else(|| {
            anyhow!(
                "{} holds `{}`, which this dockwright does not know",
                file.display(),
                kept.name
            )
        })?;
        if to.exists() && !force {
            bail!(
                "{} exists: restoring would replace it; stop any server, move it away, or restore with --force",
                to.display()
            );
        }
    }
    let mut out = std::io::stdout().lock();
    for entry in entries {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let Some(to) = manifest
            .files
            .iter()
            .find(|k| k.name == name)
            .and_then(|k| target(&k.name))
        else {
            bail!(
                "{} holds `{name}`, which its manifest does not list",
                file.display()
            );
        };
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = to.with_extension("restoring");
        let mut f = private_file(&tmp)?;
        std::io::copy(&mut entry, &mut f)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &to).with_context(|| format!("cannot write {}", to.display()))?;
        if name == "journal.db" {
            // A journal's write-ahead files belong to the file replaced, not this one.
            for ext in ["db-wal", "db-shm"] {
                let _ = std::fs::remove_file(to.with_extension(ext));
            }
        }
        writeln!(out, "restored {:<24} to {}", name, to.display())?;
    }
    writeln!(
        out,
        "from {} (made {} by {})",
        file.display(),
        manifest.made,
        manifest.made_by
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A file to write anew, readable by its owner only: a backup holds token hashes and
/// signing keys, and so do the files restored from one.
fn private_file(path: &Path) -> Result<std::fs::File> {
    crate::util::private::open(path, crate::util::private::Existing::Truncate)
        .with_context(|| format!("cannot write {}", path.display()))
}
