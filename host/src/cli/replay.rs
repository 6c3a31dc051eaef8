//! `dockwright test <plugin.wasm> --replay <cassette>`: run a recorded workflow again
//! with no engine, each host call answered from the cassette.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::plugins::runtime;
use super::run::print_report;
use crate::run::cassette::{self, Cassette};
use crate::util::console::Console;
use crate::util::text::{self, inert};

pub async fn test(
    console: Arc<dyn Console>,
    file: &Path,
    cassette_path: &Path,
    json: bool,
) -> Result<ExitCode> {
    let cassette = Cassette::read(cassette_path)?;
    let runtime = runtime()?;
    let plugin = crate::plugin::catalog::load_file(&runtime, file, console.clone(), None)
        .await
        .with_context(|| format!("`{}` is not a plugin this host can run", file.display()))?;
    let replayed = cassette::replay(&runtime, &plugin, &cassette, console).await?;
    let mut err = std::io::stderr().lock();
    if let Some(divergence) = &replayed.divergence {
        // The run's own error would repeat the diff inside a trap's backtrace: the diff
        // alone says it.
        if json {
            let doc = serde_json::json!({ "report": replayed.report, "divergence": divergence.to_string() });
            writeln!(std::io::stdout(), "{}", super::json_text(&doc)?)?;
        }
        // Bounded (see `Divergence`), and made inert: the cassette is anyone's file.
        writeln!(err, "{}", inert(&divergence.to_string()))?;
        writeln!(
            err,
            "the plugin no longer makes the calls `{}` recorded: if that is meant, record it again with `dockwright run {} --record {}`",
            cassette_path.display(),
            cassette.workflow,
            cassette_path.display()
        )?;
        return Ok(ExitCode::FAILURE);
    }
    let code = print_report(&replayed.report, json, false)?;
    if let Some(recorded) = &replayed.changed_outcome {
        let show =
            |o: &cassette::Outcome| serde_json::to_string_pretty(o).unwrap_or_default() + "\n";
        let now = cassette::Outcome::of(&replayed.report);
        let (before, after) = (show(recorded), show(&now));
        let diff = similar::TextDiff::from_lines(&before, &after);
        let mut unified = diff.unified_diff();
        unified.context_radius(3).header("recorded", "this run");
        // The recorded outcome is whatever the cassette holds: shown within bounds.
        let shown = text::clipped(&unified, text::LINE_CAP, text::CAP);
        writeln!(
            err,
            "replay: the same calls, but the run ended otherwise than recorded:\n{}",
            inert(&shown)
        )?;
        return Ok(ExitCode::FAILURE);
    }
    writeln!(
        err,
        "replayed {} calls from {}: the same calls and the same outcome",
        cassette.calls.len(),
        cassette_path.display()
    )?;
    Ok(code)
}
