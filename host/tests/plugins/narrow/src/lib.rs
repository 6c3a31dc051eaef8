//! `narrow`: a test plugin whose permission manifest is narrower than its imports.
//!
//! It imports `list-containers`, `engine-info` and `exec`, but declares only
//! `containers` in `describe` (as a Python or JavaScript plugin would). Its `reach`
//! workflow then calls all three and reports what each returned, so a test can
//! show that the declared manifest, not the imports, is what the host enforces.
//! Its `widen` workflow declares more permissions during a run, which must change
//! nothing.

/// What `describe` declares.
const DECLARED: [&str; 1] = ["containers"];
const VERSION: &str = "0.1.0";

include!("plugin.rs");
