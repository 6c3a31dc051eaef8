//! Names the commit a binary was built from, for `dockwright --version`: from
//! `DOCKWRIGHT_COMMIT` (a build outside a git checkout, such as from a source
//! tarball), else from git, else `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DOCKWRIGHT_COMMIT");
    let git = Path::new("../.git");
    // Rebuilt when the checkout moves to another commit: HEAD, and the branch it names.
    if git.join("HEAD").is_file() {
        println!("cargo:rerun-if-changed=../.git/HEAD");
        if let Ok(head) = std::fs::read_to_string(git.join("HEAD")) {
            if let Some(branch) = head.trim().strip_prefix("ref: ") {
                let path = git.join(branch);
                if path.is_file() {
                    println!("cargo:rerun-if-changed=../.git/{branch}");
                } else if git.join("packed-refs").is_file() {
                    println!("cargo:rerun-if-changed=../.git/packed-refs");
                }
            }
        }
    }
    let commit = std::env::var("DOCKWRIGHT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
                .filter(|c| !c.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=DOCKWRIGHT_COMMIT={commit}");
}
