//! `bulwark mutate`: the defaults applied to manifest files (YAML in, YAML out), or the
//! patches themselves.
//!
//! The objects printed are the ones the loader read, so YAML merge keys (`<<`) come out
//! resolved, as kubectl would send them: the merged fields are written out in full and the
//! anchors, aliases and `<<` keys are gone. Printing `<<` back would need the merge to be
//! redone on the way in, and the patch paths are computed on the resolved object anyway.

use std::path::PathBuf;

use crate::config::Policy;
use crate::mutate::{MutateError, Operation, mutate};

use super::{Loaded, load_paths};

/// What `bulwark mutate` prints and returns.
#[derive(Debug, Default)]
pub struct Output {
    /// Standard output: the mutated documents separated by `---`, or one JSON patch (array)
    /// per line with `--patch`.
    pub stdout: String,
    /// One message per file, document or object that could not be read or mutated.
    pub errors: Vec<String>,
}

impl Output {
    /// Exit code: 2 when anything could not be read or mutated, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.errors.is_empty() { 0 } else { 2 }
    }
}

/// Reads `paths` (files, directories, `-` for stdin; stdin when empty) and mutates every
/// object as a CREATE.
pub fn run(paths: &[PathBuf], patch_only: bool, policy: &Policy) -> Output {
    let stdin = [PathBuf::from("-")];
    let paths = if paths.is_empty() { &stdin[..] } else { paths };
    render(load_paths(paths), patch_only, policy)
}

/// Mutates every loaded document in order. A document that cannot be mutated is printed
/// unchanged (an empty patch with `--patch`) and reported. Items of a `kind: List` come out as
/// separate documents.
pub fn render(loaded: Loaded, patch_only: bool, policy: &Policy) -> Output {
    let mut out = Output {
        errors: loaded.errors.iter().map(ToString::to_string).collect(),
        ..Output::default()
    };
    for (n, doc) in loaded.documents.into_iter().enumerate() {
        // As `check` locates its errors: file:line (document n).
        let at = |line: usize| format!("{}:{line} (document {})", doc.file, doc.index);
        let location = at(doc.line);
        let patch = match mutate(&doc.value, Operation::Create, policy) {
            Ok(m) => m.patch,
            Err(e) => {
                let line = match &e {
                    MutateError::Invalid(p) => doc.line_of(p.path()),
                    _ => doc.line,
                };
                out.errors.push(format!("{}: {e}", at(line)));
                json_patch::Patch::default()
            }
        };
        let mut value = doc.value;
        if patch_only {
            let line = serde_json::to_string(&patch).unwrap_or_else(|_| "[]".into());
            out.stdout.push_str(&line);
            out.stdout.push('\n');
            continue;
        }
        let mut mutated = value.clone();
        match json_patch::patch(&mut mutated, &patch) {
            Ok(()) => value = mutated,
            Err(e) => out
                .errors
                .push(format!("{location}: patch does not apply: {e}")),
        }
        if n > 0 {
            out.stdout.push_str("---\n");
        }
        match serde_yaml_ng::to_string(&value) {
            Ok(yaml) => out.stdout.push_str(&yaml),
            Err(e) => out
                .errors
                .push(format!("{location}: cannot write YAML: {e}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::load_text;

    #[test]
    fn keeps_document_order_and_key_order() {
        let mut loaded = Loaded::default();
        load_text(
            "f.yaml",
            "kind: ConfigMap\nmetadata: {name: z}\ndata: {b: '1', a: '2'}\n---\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: 'x:1'}]}\n",
            false,
            &mut loaded,
        );
        let out = render(loaded, false, &Policy::default());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let docs: Vec<&str> = out.stdout.split("---\n").collect();
        assert_eq!(docs.len(), 2);
        assert!(
            docs[0]
                .starts_with("kind: ConfigMap\nmetadata:\n  name: z\ndata:\n  b: '1'\n  a: '2'\n"),
            "{}",
            docs[0]
        );
        assert!(docs[1].contains("runAsNonRoot: true"), "{}", docs[1]);
    }

    #[test]
    fn prints_merge_keys_resolved() {
        let mut loaded = Loaded::default();
        load_text(
            "f.yaml",
            "x-base: &base {hostNetwork: true, dnsPolicy: ClusterFirstWithHostNet}\nkind: Pod\nmetadata: {name: p}\nspec:\n  <<: *base\n  containers: [{name: c, image: 'x:1', securityContext: {<<: {privileged: true}}}]\n",
            false,
            &mut loaded,
        );
        let out = render(loaded, false, &Policy::default());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert!(!out.stdout.contains("<<"), "{}", out.stdout);
        let v: serde_json::Value = serde_yaml_ng::from_str(&out.stdout).unwrap_or_default();
        assert_eq!(v["spec"]["hostNetwork"], true, "{}", out.stdout);
        assert_eq!(v["spec"]["dnsPolicy"], "ClusterFirstWithHostNet");
        assert_eq!(
            v["spec"]["containers"][0]["securityContext"]["privileged"],
            true
        );
    }

    #[test]
    fn patch_mode_prints_one_array_per_document_and_reports_errors() {
        let mut loaded = Loaded::default();
        load_text(
            "f.yaml",
            "kind: ConfigMap\n---\nkind: Pod\nspec: {containers: nope}\n---\nkind: [oops\n",
            false,
            &mut loaded,
        );
        let out = render(loaded, true, &Policy::default());
        assert_eq!(out.stdout, "[]\n[]\n");
        assert_eq!(out.errors.len(), 2, "{:?}", out.errors);
        assert_eq!(out.exit_code(), 2);
        // The object that does not parse is located at its field's line, named by its path.
        assert!(
            out.errors.iter().any(|e| e.starts_with(
                "f.yaml:4 (document 1): invalid Pod object at spec.containers: invalid type"
            )),
            "{:?}",
            out.errors
        );
    }
}
