//! `narrow` 0.2.0: the `narrow` test plugin (same name, same imports) declaring one more
//! permission group, `engine-info`: the update whose new permission must be shown and
//! confirmed.

/// What `describe` declares.
const DECLARED: [&str; 2] = ["containers", "engine-info"];
const VERSION: &str = "0.2.0";

include!("../../narrow/src/plugin.rs");
