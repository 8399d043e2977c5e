//! The crate's layers, bottom first, and the test that holds every module to them: a module
//! uses only its own layer and the layers below, so the policy, the engine and the rules can
//! each be read, tested and changed without what sits above them.
//!
//! The check reads the source: every `crate::<module>` a file names outside its
//! `#[cfg(test)]` part and its comments (tests may build a whole policy from any layer).

/// Bottom first. A module may use its own layer and every layer listed before it.
const LAYERS: &[&[&str]] = &[
    // Kubernetes objects as typed views.
    &["workload"],
    // The policy's vocabulary and file format; no rule knowledge.
    &["policy"],
    // The Rule trait, typed parameters, the compiled Policy, evaluation, exemptions.
    &["engine"],
    // The rule catalogue.
    &["rules"],
    // The policy bound to the built-in catalogue: Policy::default(), --config files.
    &["config"],
    // Defaults as JSON patches.
    &["mutate"],
    // The adapters: the webhook, files, the cluster, health, certificates, the clock. Their
    // order among themselves is kept by their own module docs, not here.
    &[
        "policy_source",
        "admission",
        "offline",
        "cluster",
        "server",
        "certs",
        "clock",
        "health",
    ],
];

use std::path::{Path, PathBuf};

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a source text names as `crate::x`, `crate::{x, y::z}`, outside
/// comments and before its first `#[cfg(test)]`.
fn crate_modules(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        // `bulwark::crate::` never occurs; skip `$crate::` and `xcrate::` lookalikes.
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of a `{...}` group; nested groups belong to their item.
            let mut depth = 0;
            let mut item_start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(ident(&group[item_start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(&group[item_start..j]));
                        item_start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

#[test]
fn the_scanner_reads_paths_groups_and_skips_tests_and_comments() {
    let text = "use crate::engine::Rule;\nuse crate::{policy::{Mode, Scope}, workload};\n\
                // crate::server in a comment\nlet x = crate::rules::ids(); // crate::admission\n\
                #[cfg(test)]\nuse crate::config::Policy;\n";
    assert_eq!(
        crate_modules(text),
        ["engine", "policy", "workload", "rules"]
    );
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut errors = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let module = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_owned())
            .unwrap_or_default();
        // The crate root, the binary and this file sit above every layer.
        if ["lib", "main", "cli", "layers"].contains(&module.as_str()) {
            continue;
        }
        let name = format!("src/{}", rel.display());
        let Some(own) = layer_of(&module) else {
            errors.push(format!(
                "{name}: module `{module}` has no layer: add it to LAYERS in src/layers.rs"
            ));
            continue;
        };
        if rel.file_name().is_some_and(|f| f == "tests.rs") {
            continue; // a whole file of tests
        }
        let text = std::fs::read_to_string(file).expect("source is readable");
        for used in crate_modules(&text) {
            let Some(layer) = layer_of(&used) else {
                errors.push(format!(
                    "{name}: crate::{used} has no layer in src/layers.rs"
                ));
                continue;
            };
            if layer > own {
                errors.push(format!(
                    "{name}: `{module}` uses crate::{used}, a layer above it"
                ));
            }
        }
    }
    errors.sort();
    errors.dedup();
    assert!(
        errors.is_empty(),
        "layering (src/layers.rs):\n{}",
        errors.join("\n")
    );
}

/// The README's `## Layout` block names only paths that exist, and every layer above.
#[test]
fn readme_layout_names_real_paths() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let block = readme
        .split("## Layout")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("README.md has a ## Layout section with a code block");
    let paths: Vec<&str> = block
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let missing: Vec<&&str> = paths.iter().filter(|p| !root.join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "README.md's layout names paths that do not exist: {missing:?}"
    );
    for module in LAYERS.iter().flat_map(|l| l.iter()) {
        let named = [format!("src/{module}.rs"), format!("src/{module}/")];
        assert!(
            !root.join("src").join(module).exists()
                && !root.join(format!("src/{module}.rs")).exists()
                || paths.iter().any(|p| named.iter().any(|n| n == p)),
            "README.md's layout does not name module `{module}`"
        );
    }
}
