//! Small helpers every layer may use: where output goes, "did you mean", digests,
//! atomic file writes and the default folders.
//!
//! Uses no other layer.
//!
//! - [`console`]: where a plugin's words (and a build's output) go;
//! - [`suggest`]: "did you mean ...?" for mistyped names;
//! - [`digest`]: sha256 of plugin files;
//! - [`keys`]: ed25519 signing keys and signatures over plugin manifests;
//! - [`files`]: writes that concurrent readers never see half done;
//! - [`paths`]: the XDG folders for config, cache, plugins and state;
//! - [`text`]: plugins' and engines' text made inert on terminals and bounded in size;
//! - [`lines`]: reading lines of a file in bounded memory;
//! - [`json`]: JSON read strictly (a key written twice is an error);
//! - [`stop`]: the process asked to stop (signals, console events, a service's stop);
//! - [`private`]: files only their owner can read (mode 0600, or an owner-only ACL);
//! - [`user`]: who runs this process, as the system vouches for it (uid or SID).

pub mod console;
pub mod digest;
pub mod files;
pub mod json;
pub mod keys;
pub mod lines;
pub mod paths;
pub mod private;
pub mod stop;
pub mod suggest;
pub mod text;
pub mod user;
