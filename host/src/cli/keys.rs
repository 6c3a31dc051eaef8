//! `dockwright keys`: the signing keys of plugin publishers.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use crate::share::signature;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make an ed25519 key pair; prints the public key for teams' `trusted_keys`
    New {
        /// The key's name (letters, digits, `-`, `_`, `.`)
        name: String,
    },
    /// List the keys made here, with their public keys
    List,
}

pub fn run(command: KeysCommand) -> Result<ExitCode> {
    let dir = crate::util::paths::keys_dir();
    match command {
        KeysCommand::New { name } => {
            let (path, public) = signature::create_key(&dir, &name)?;
            eprintln!(
                "made key `{name}`: private key in {} (keep it secret); sign with `dockwright plugins push --sign {name}`",
                path.display()
            );
            println!("{public}");
        }
        KeysCommand::List => {
            let keys = signature::list_keys(&dir);
            if keys.is_empty() {
                println!(
                    "No keys in {}: make one with `dockwright keys new <name>`.",
                    dir.display()
                );
            }
            for (name, public) in keys {
                println!("{name}  {public}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
