//! The layer order of docs/architecture.md as data, and the test that fails when an import runs against it.
//!
//! Every top-level module has a rank; `crate::b` may appear in module `a`
//! only when `b` ranks below `a`. The edge (`EDGE`: routes, sockets, the
//! network, configuration, wiring) may also use itself. A grouped import
//! (`crate::{a, b}`) or a path spelled with `super::super` would slip past
//! the scan, so the test refuses those too.

/// Top-level modules, lowest first: `(module, rank)`.
pub const LAYERS: &[(&str, u8)] = &[
    // The floor everyone stands on: the vocabulary and the one error type.
    ("model", 0),
    ("error", 0),
    ("clock", 1),
    ("wire", 1),
    ("phone", 1),
    ("ratelimit", 1),
    ("call_metrics", 1),
    ("webhook", 1),
    ("providers", 2),
    ("auth", 2),
    ("store", 2),
    ("metrics", 2),
    ("presence", 3),
    ("directory", 3),
    ("cluster", 4),
    ("media", 5),
    ("telephony", 5),
    ("integrations", 5),
    ("dashboard", 5),
    ("contacts", 3),
    ("outbox", 5),
    ("webhook_feed", EDGE),
    ("call", 6),
    ("http", EDGE),
    ("signal", EDGE),
    ("net", EDGE),
    ("config", EDGE),
    ("app", EDGE),
    ("membership", EDGE),
    ("layers", EDGE),
];

/// The rank of the edge: its modules may import each other.
pub const EDGE: u8 = 7;

/// The rank of `module`, if it is a known top-level module.
pub fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

/// Whether module `from` may import module `to`.
pub fn allowed(from: &str, to: &str) -> Option<bool> {
    let (a, b) = (rank(from)?, rank(to)?);
    Some(from == to || b < a || (a == EDGE && b == EDGE))
}

/// Every `crate::<module>` a source text names, in order.
pub fn crate_paths(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '{'))
            .unwrap_or(after.len());
        out.push(&after[..end]);
        rest = &after[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn the_rule_forbids_upward_and_sideways_imports() {
        assert_eq!(allowed("call", "store"), Some(true));
        assert_eq!(allowed("store", "call"), Some(false), "upward");
        assert_eq!(allowed("auth", "store"), Some(false), "sideways below the edge");
        assert_eq!(allowed("http", "signal"), Some(true), "the edge uses itself");
        assert_eq!(allowed("model", "wire"), Some(false));
        assert_eq!(allowed("presence", "cluster"), Some(false));
        assert_eq!(allowed("cluster", "presence"), Some(true));
        assert_eq!(allowed("nowhere", "call"), None);
    }

    #[test]
    fn paths_are_read_from_text() {
        let text = "use crate::model::Call;\nlet x = crate::clock::now_ms(); use crate::{a, b};";
        assert_eq!(crate_paths(text), ["model", "clock", "{a"]);
    }

    /// The check: every file's `crate::` imports follow `LAYERS`.
    #[test]
    fn every_import_follows_the_layer_order() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        let mut wrong = Vec::new();
        for file in &files {
            let rel = file.strip_prefix(&root).unwrap();
            let first = rel.components().next().unwrap().as_os_str().to_str().unwrap();
            // `config_tests.rs` is `config`'s (a `#[path]` module).
            let module = first.trim_end_matches(".rs").trim_end_matches("_tests");
            if matches!(module, "lib" | "main" | "layers") {
                // The crate root declares modules; main uses the library by
                // name; this file's own text is full of examples.
                continue;
            }
            let Some(_) = rank(module) else {
                wrong.push(format!("{}: module `{module}` is not in LAYERS", rel.display()));
                continue;
            };
            let text = std::fs::read_to_string(file).unwrap();
            if text.contains("super::super") {
                wrong.push(format!("{}: `super::super` hides which module it uses", rel.display()));
            }
            for to in crate_paths(&text) {
                match allowed(module, to) {
                    Some(true) => {}
                    Some(false) => wrong.push(format!("{}: `{module}` must not use `crate::{to}`", rel.display())),
                    None => wrong.push(format!("{}: `crate::{to}` is not a module in LAYERS", rel.display())),
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "imports against docs/architecture.md:\n{}",
            wrong.join("\n")
        );
    }
}
