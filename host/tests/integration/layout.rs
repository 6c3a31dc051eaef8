//! The source tree's layering: `host/src` is one folder per layer, each using only
//! the layers below it, and no module uses a module that (directly or through others)
//! uses it back. The README's Layout section lists the same folders.
//!
//! Module paths are read from the source text (`crate::`, `super::` and `self::`
//! paths, in `use` items and inline), with comments and string literals removed.
//! rustc gives no stable way to ask for a crate's module graph, and a full Rust
//! parser would be a heavy dependency for a test; the scanner below understands the
//! path syntax the crate uses (nested `{...}` groups, `self`, inline `mod` blocks).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The folders of `host/src`, lowest first. A module may use modules of its own
/// folder and of the folders before its own, never those after.
const LAYERS: &[&str] = &[
    "util", "config", "contract", "policy", "engine", "journal", "imports", "plugin", "share",
    "run", "serve", "cli",
];

/// Files allowed at the top of `host/src` besides the folders.
const TOP_FILES: &[&str] = &["lib.rs", "main.rs"];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A module, as its path from the crate root (`["policy", "images"]`); a folder's
/// `mod.rs` is the folder's path.
type ModPath = Vec<String>;

/// Every module file under `dir`, with its module path.
fn module_files(dir: &Path, prefix: &ModPath, out: &mut BTreeMap<ModPath, PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut sub = prefix.clone();
            sub.push(name);
            module_files(&path, &sub, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut module = prefix.clone();
            if stem != "mod" && !(prefix.is_empty() && stem == "lib") {
                module.push(stem.to_string());
            }
            if prefix.is_empty() && stem == "main" {
                // The binary: its own crate, using the library by name.
                continue;
            }
            out.insert(module, path);
        }
    }
}

/// The source without comments, string and char literals (so that doc links and
/// messages that mention module paths are not read as uses).
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && matches!(next, Some('"') | Some('#')) && !ident_char(prev(&b, i)) {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            'scan: while j < b.len() {
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break 'scan;
                }
                j += 1;
            }
            i = j;
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{..}') or a lifetime ('a): skip only the former.
            let close = if next == Some('\\') {
                (i + 3..b.len().min(i + 12)).find(|&j| b[j] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(j) => {
                    i = j + 1;
                    out.push_str("' '");
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev(b: &[char], i: usize) -> char {
    if i == 0 {
        ' '
    } else {
        b[i - 1]
    }
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Sep,
    Open,
    Close,
    Comma,
    Star,
    Other(char),
}

fn tokens(code: &str) -> Vec<Tok> {
    let b: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if ident_char(c) {
            let start = i;
            while i < b.len() && ident_char(b[i]) {
                i += 1;
            }
            out.push(Tok::Ident(b[start..i].iter().collect()));
            continue;
        }
        match c {
            ':' if b.get(i + 1) == Some(&':') => {
                out.push(Tok::Sep);
                i += 2;
                continue;
            }
            '{' => out.push(Tok::Open),
            '}' => out.push(Tok::Close),
            ',' => out.push(Tok::Comma),
            '*' => out.push(Tok::Star),
            c if c.is_whitespace() => {}
            c => out.push(Tok::Other(c)),
        }
        i += 1;
    }
    out
}

/// The paths a `a::b::{c, d::e}` tree starting at `toks[i]` names, each as its
/// segments; returns them and the index after the tree.
fn path_tree(toks: &[Tok], mut i: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut path = prefix;
    loop {
        match toks.get(i) {
            Some(Tok::Ident(name)) => {
                path.push(name.clone());
                i += 1;
                if toks.get(i) == Some(&Tok::Sep) {
                    i += 1;
                    continue;
                }
                return (vec![path], i);
            }
            Some(Tok::Star) => return (vec![path], i + 1),
            Some(Tok::Open) => {
                i += 1;
                let mut all = Vec::new();
                loop {
                    match toks.get(i) {
                        Some(Tok::Close) => return (all, i + 1),
                        Some(Tok::Comma) => i += 1,
                        None => return (all, i),
                        _ => {
                            let (found, next) = path_tree(toks, i, path.clone());
                            all.extend(found);
                            i = next.max(i + 1);
                        }
                    }
                }
            }
            _ => return (vec![path], i),
        }
    }
}

/// The modules `file` (module `module`) uses, as paths from the crate root.
fn uses(module: &ModPath, code: &str) -> Vec<Vec<String>> {
    let toks = tokens(code);
    let mut found = Vec::new();
    // Inline `mod name { ... }` blocks: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Open => {
                depth += 1;
                i += 1;
                continue;
            }
            Tok::Close => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Open)) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((name.clone(), depth + 1));
                }
            }
            _ => {}
        }
        let starts_path = i == 0 || toks[i - 1] != Tok::Sep;
        if let (true, Tok::Ident(first), Some(Tok::Sep)) = (starts_path, &toks[i], toks.get(i + 1))
        {
            // Where the path starts: the crate root, or this file's module (with its
            // inline modules) for `self` and `super`.
            let mut here: Vec<String> = module.clone();
            here.extend(inline.iter().map(|(n, _)| n.clone()));
            let base: Option<Vec<String>> = match first.as_str() {
                "crate" => Some(Vec::new()),
                "self" => Some(here.clone()),
                "super" => {
                    let mut at = here.clone();
                    let mut j = i;
                    while let (Some(Tok::Ident(s)), Some(Tok::Sep)) = (toks.get(j), toks.get(j + 1))
                    {
                        if s != "super" {
                            break;
                        }
                        at.pop();
                        j += 2;
                    }
                    let (paths, next) = path_tree(&toks, j, at);
                    found.extend(paths);
                    i = next.max(i + 1);
                    continue;
                }
                _ => None,
            };
            if let Some(base) = base {
                let (paths, next) = path_tree(&toks, i + 2, base);
                found.extend(paths);
                i = next.max(i + 1);
                continue;
            }
        }
        i += 1;
    }
    found
}

/// The module file a path lands in: its longest prefix that is a module file.
fn resolve(files: &BTreeMap<ModPath, PathBuf>, path: &[String]) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| files.contains_key(prefix))
        .unwrap_or_default()
}

fn name(module: &ModPath) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

/// Module -> modules it uses (other than itself).
fn graph() -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut files = BTreeMap::new();
    module_files(&src_dir(), &Vec::new(), &mut files);
    let mut edges = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let mut to = BTreeSet::new();
        for used in uses(module, &code_only(&text)) {
            let target = resolve(&files, &used);
            // Paths that land in this file's own inline modules land in the file.
            if target != *module {
                to.insert(target);
            }
        }
        edges.insert(module.clone(), to);
    }
    edges
}

/// A cycle through `start`, if there is one.
fn cycle_from(
    edges: &BTreeMap<ModPath, BTreeSet<ModPath>>,
    start: &ModPath,
) -> Option<Vec<ModPath>> {
    fn walk(
        edges: &BTreeMap<ModPath, BTreeSet<ModPath>>,
        start: &ModPath,
        at: &ModPath,
        trail: &mut Vec<ModPath>,
        seen: &mut BTreeSet<ModPath>,
    ) -> bool {
        for next in edges.get(at).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                trail.push(next.clone());
                if walk(edges, start, next, trail, seen) {
                    return true;
                }
                trail.pop();
            }
        }
        false
    }
    let mut trail = vec![start.clone()];
    walk(edges, start, start, &mut trail, &mut BTreeSet::new()).then_some(trail)
}

fn layer_of(module: &ModPath) -> Option<usize> {
    let top = module.first()?;
    LAYERS.iter().position(|l| l == top)
}

#[test]
fn no_module_uses_one_that_uses_it_back() {
    let edges = graph();
    assert!(
        edges.len() > 40,
        "the scanner found too few modules: {edges:?}"
    );
    let mut cycles = Vec::new();
    for module in edges.keys() {
        if let Some(cycle) = cycle_from(&edges, module) {
            let names: Vec<String> = cycle.iter().map(name).collect();
            cycles.push(format!("{} -> {}", names.join(" -> "), name(module)));
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let edges = graph();
    let mut wrong = Vec::new();
    for (from, targets) in &edges {
        let Some(own) = layer_of(from) else {
            continue; // lib.rs declares the layers.
        };
        for to in targets {
            match layer_of(to) {
                Some(layer) if layer <= own => {}
                Some(layer) => wrong.push(format!(
                    "{} ({}) uses {} ({}), a layer above it",
                    name(from),
                    LAYERS[own],
                    name(to),
                    LAYERS[layer]
                )),
                None => wrong.push(format!(
                    "{} uses {}, outside every layer",
                    name(from),
                    name(to)
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn src_holds_the_layers_and_the_readme_lists_them() {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(src_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            dirs.push(name);
        } else {
            files.push(name);
        }
    }
    dirs.sort();
    files.sort();
    let mut layers: Vec<String> = LAYERS.iter().map(|l| l.to_string()).collect();
    layers.sort();
    assert_eq!(dirs, layers, "host/src's folders and the layers differ");
    assert_eq!(
        files, TOP_FILES,
        "host/src holds only the layer folders, lib.rs and main.rs"
    );
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            let l = l
                .strip_prefix("pub(crate) mod ")
                .or(l.strip_prefix("pub mod "))?;
            l.strip_suffix(';')
        })
        .collect();
    assert_eq!(
        declared, LAYERS,
        "lib.rs declares the layers in their order"
    );

    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let layout = readme
        .split("## Layout")
        .nth(1)
        .expect("the README has a Layout section");
    let layout = &layout[..layout.find("\n## ").unwrap_or(layout.len())];
    // The README names each folder on a line of its own (`  name/  what it holds`),
    // and each of the folder's files on that line or the indented ones below it.
    let mut blocks: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in layout.lines() {
        let indent = line.len() - line.trim_start().len();
        let first = line.split_whitespace().next().unwrap_or("");
        if indent == 2 && first.ends_with('/') {
            current = Some(first.trim_end_matches('/').to_string());
        } else if indent < 4 {
            current = None;
        }
        if let Some(dir) = &current {
            let words = line
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .map(String::from);
            blocks.entry(dir.clone()).or_default().extend(words);
        }
    }
    for dir in &dirs {
        let Some(words) = blocks.get(dir) else {
            panic!("the README's Layout does not list host/src/{dir}/");
        };
        let folder = src_dir().join(dir);
        for entry in std::fs::read_dir(&folder).unwrap() {
            let file = entry.unwrap().file_name().to_string_lossy().into_owned();
            let Some(stem) = file.strip_suffix(".rs") else {
                continue;
            };
            if stem != "mod" && stem != "fixtures" {
                assert!(
                    words.contains(stem),
                    "the README's Layout does not name {dir}/{file} under {dir}/"
                );
            }
        }
    }
}

#[test]
fn the_scanner_reads_paths_as_rustc_does() {
    let module: ModPath = vec!["serve".into(), "api".into()];
    let code = code_only(
        "use crate::a::{b, c::{d, e}};\n\
         use super::{app::App, openapi};\n\
         // use crate::commented::out;\n\
         let s = \"crate::in_a_string::x\";\n\
         fn f() { crate::inline::call(); self::local(); }\n\
         mod tests { use super::*; use super::super::x::Y; }\n",
    );
    let found: Vec<String> = uses(&module, &code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        found,
        [
            "a::b",
            "a::c::d",
            "a::c::e",
            "serve::app::App",
            "serve::openapi",
            "inline::call",
            "serve::api::local",
            "serve::api",
            "serve::x::Y",
        ]
    );
}

/// A function with more arguments than clippy's limit is one a reader cannot follow:
/// the host gathers them in a struct (see `run::RunRequest`), and none is let through
/// with an `allow`.
#[test]
fn no_function_is_let_through_with_too_many_arguments() {
    let mut files = BTreeMap::new();
    module_files(&src_dir(), &Vec::new(), &mut files);
    let allowed: Vec<String> = files
        .values()
        .filter(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .contains(concat!("clippy::", "too_many_arguments"))
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(allowed.is_empty(), "allowed in: {allowed:?}");
}

/// The most lines a file of `host/src` may have: past it, a file holds more than one
/// idea, or its tests belong in a `tests.rs` of its own folder.
const MAX_LINES: usize = 800;

#[test]
fn no_file_is_over_the_line_limit() {
    let mut files = BTreeMap::new();
    module_files(&src_dir(), &Vec::new(), &mut files);
    let src = src_dir();
    let mut over = Vec::new();
    for path in files.values() {
        let lines = std::fs::read_to_string(path).unwrap().lines().count();
        if lines > MAX_LINES {
            let name = path.strip_prefix(&src).unwrap().display();
            over.push(format!("{name} ({lines} lines)"));
        }
    }
    assert!(over.is_empty(), "over {MAX_LINES} lines: {over:?}");
}

/// The words a folder's `Uses ...` sentence may name each layer by.
fn names_of(layer: &str) -> &'static [&'static str] {
    match layer {
        "imports" => &["imports", "host functions"],
        "plugin" => &["plugin"],
        "util" => &["util"],
        "config" => &["config"],
        "contract" => &["contract"],
        "policy" => &["policy"],
        "engine" => &["engine"],
        "journal" => &["journal"],
        "share" => &["share"],
        "run" => &["run"],
        "serve" => &["serve"],
        "cli" => &["cli"],
        other => panic!("no names for layer `{other}`"),
    }
}

/// The `Uses ...` sentence of a folder's `mod.rs` doc: from `//! Uses` to its full stop.
fn uses_sentence(doc: &str) -> Option<String> {
    let text: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .collect();
    let joined = text.join(" ");
    let start = joined.find("Uses ")?;
    let rest = &joined[start..];
    // The sentence ends at a full stop followed by a space or the end; `e.g.` is not used.
    let end = rest
        .match_indices('.')
        .map(|(i, _)| i)
        .find(|&i| rest[i + 1..].is_empty() || rest[i + 1..].starts_with(' '))
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// Whether `text` names a layer, by whole words (`run` is not named by "runs").
fn names_in(text: &str) -> impl Fn(&str) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .collect();
    let padded = format!(" {} ", words.join(" "));
    move |layer: &str| {
        names_of(layer)
            .iter()
            .any(|n| padded.contains(&format!(" {n} ")))
    }
}

#[test]
fn each_folder_says_which_layers_it_uses_and_the_claim_is_true() {
    let edges = graph();
    let mut wrong = Vec::new();
    for (own, layer) in LAYERS.iter().enumerate() {
        let doc = std::fs::read_to_string(src_dir().join(layer).join("mod.rs")).unwrap();
        let Some(sentence) = uses_sentence(&doc) else {
            wrong.push(format!("{layer}/mod.rs has no `Uses ...` sentence"));
            continue;
        };
        // What follows "never" names layers the folder does not use.
        let (claimed, never) = sentence.split_once("never").unwrap_or((&sentence, ""));
        let (mentions, refuses) = (names_in(claimed), names_in(never));
        let used: BTreeSet<usize> = edges
            .iter()
            .filter(|(from, _)| layer_of(from) == Some(own))
            .flat_map(|(_, to)| to.iter().filter_map(layer_of))
            .filter(|&l| l != own)
            .collect();
        for l in &used {
            if !mentions(LAYERS[*l]) || refuses(LAYERS[*l]) {
                wrong.push(format!(
                    "{layer} uses {} but its mod.rs says: {sentence}",
                    LAYERS[*l]
                ));
            }
        }
        // A layer named that is above this one would be a claim the layering forbids.
        for above in &LAYERS[own + 1..] {
            if mentions(above) {
                wrong.push(format!(
                    "{layer}/mod.rs names {above}, a layer above it: {sentence}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "mod.rs claims:\n{}", wrong.join("\n"));
}

#[test]
fn a_uses_sentence_is_read_to_its_full_stop() {
    let doc = "//! Intro.\n//!\n//! Uses the engine (for `gc`), policy\n//! and `util`. More.\n";
    assert_eq!(
        uses_sentence(doc).unwrap(),
        "Uses the engine (for `gc`), policy and `util`"
    );
    assert_eq!(uses_sentence("//! Nothing here."), None);
    let named = names_in("the host functions' run modes, `util`");
    assert!(named("imports") && named("run") && named("util"));
    assert!(!names_in("runs of the engines")("run"));
    assert!(!names_in("runs of the engines")("engine"));
}
