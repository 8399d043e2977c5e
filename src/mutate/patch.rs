//! Building an RFC 6902 patch that only fills gaps.
//!
//! [`Patcher`] reads the object through the operations so far, so later defaults see
//! earlier ones. It only ever emits:
//! - `add` of a field that is absent; when parents are missing, one `add` of the first missing
//!   ancestor carrying the whole nested value (never a child path under a missing parent);
//! - `replace` of an explicit `null` (which stands for unset);
//! - `replace` of bulwark's own annotation ([`Patcher::set`]).
//!
//! A field added under a parent this patch already added is merged into that earlier
//! operation's value, so patches stay short and readable.

use std::borrow::Cow;

use json_patch::jsonptr::{PointerBuf, Token};
use json_patch::{AddOperation, Patch, PatchOperation, ReplaceOperation};
use serde_json::{Map, Value};

/// One step of a path: an object key or an array index. Keys borrow (almost all are string
/// literals or policy keys), so extending a path copies pointers instead of strings: the
/// defaults build a few hundred paths per object, and cloning their keys was a large share of
/// mutation's cost (docs/benchmarks.md, "Patch paths").
#[derive(Debug, Clone, Eq)]
pub enum Seg<'k> {
    /// Object key (unescaped).
    Key(Cow<'k, str>),
    /// Array index.
    Index(usize),
}

impl PartialEq for Seg<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Seg::Key(a), Seg::Key(b)) => key_eq(a, b),
            (Seg::Index(a), Seg::Index(b)) => a == b,
            _ => false,
        }
    }
}

/// `a == b` for the short keys of Kubernetes objects, without a call to libc's `memcmp`:
/// str equality calls it whenever the lengths match, which for a key found is every time,
/// and the defaults compare a few thousand keys per object, so `memcmp`'s call and set-up for
/// 5-20 byte keys showed in their profile (docs/benchmarks.md, "Patch paths"). Compares
/// overlapping words instead.
#[inline]
fn key_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    let w8 = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    let w4 = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap_or([0; 4]));
    match n {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        _ => {
            let mut at = 0;
            while at + 8 < n {
                if w8(a, at) != w8(b, at) {
                    return false;
                }
                at += 8;
            }
            // The last word, overlapping the previous one when `n` is not a multiple of 8.
            w8(a, n - 8) == w8(b, n - 8)
        }
    }
}

impl Seg<'_> {
    /// This step with its key owned, for the patch's own operations.
    fn to_static(&self) -> Seg<'static> {
        match self {
            Seg::Key(k) => Seg::Key(Cow::Owned(k.as_ref().to_owned())),
            Seg::Index(i) => Seg::Index(*i),
        }
    }
}

/// A path into the object, built with [`Path::key`] and [`Path::idx`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path<'k>(pub Vec<Seg<'k>>);

impl<'k> Path<'k> {
    /// The root.
    pub fn root() -> Path<'k> {
        Path(Vec::new())
    }

    /// A path from dotted keys, e.g. `spec.template.spec`.
    pub fn dotted(s: &'k str) -> Path<'k> {
        Path(s.split('.').map(|k| Seg::Key(Cow::Borrowed(k))).collect())
    }

    /// This path extended by an object key.
    pub fn key(&self, k: &'k str) -> Path<'k> {
        self.extended(Seg::Key(Cow::Borrowed(k)))
    }

    /// This path extended by an array index.
    pub fn idx(&self, i: usize) -> Path<'k> {
        self.extended(Seg::Index(i))
    }

    fn extended(&self, seg: Seg<'k>) -> Path<'k> {
        let mut segs = Vec::with_capacity(self.0.len() + 1);
        segs.extend_from_slice(&self.0);
        segs.push(seg);
        Path(segs)
    }

    /// The RFC 6901 pointer (keys escaped: `/` -> `~1`, `~` -> `~0`).
    pub fn pointer(&self) -> PointerBuf {
        PointerBuf::from_tokens(self.0.iter().map(|s| match s {
            Seg::Key(k) => Token::new(k.as_ref()),
            Seg::Index(i) => Token::from(*i),
        }))
    }
}

/// `m[k]`. Objects in a pod spec have a handful of keys, and scanning them (a length check
/// rejects most at once) is cheaper than hashing the key with `Map`'s SipHash; the defaults
/// look up a few hundred keys per object (docs/benchmarks.md, "Patch paths").
fn lookup<'v>(m: &'v Map<String, Value>, k: &str) -> Option<&'v Value> {
    if m.len() <= 16 {
        m.iter().find_map(|(key, v)| key_eq(key, k).then_some(v))
    } else {
        m.get(k)
    }
}

/// Reads `path` in `doc`.
pub fn get<'v>(doc: &'v Value, path: &Path<'_>) -> Option<&'v Value> {
    get_segs(doc, &path.0)
}

/// Reads `segs` below `cur`.
fn get_segs<'v>(cur: &'v Value, segs: &[Seg<'_>]) -> Option<&'v Value> {
    segs.iter().try_fold(cur, |cur, seg| match (cur, seg) {
        (Value::Object(m), Seg::Key(k)) => lookup(m, k),
        (Value::Array(a), Seg::Index(i)) => a.get(*i),
        _ => None,
    })
}

/// [`get_segs`], mutably.
fn get_segs_mut<'v>(cur: &'v mut Value, segs: &[Seg<'_>]) -> Option<&'v mut Value> {
    segs.iter().try_fold(cur, |cur, seg| match (cur, seg) {
        (Value::Object(m), Seg::Key(k)) => m.get_mut(k.as_ref()),
        (Value::Array(a), Seg::Index(i)) => a.get_mut(*i),
        _ => None,
    })
}

/// `value` wrapped in one object per key of `keys` (innermost last); `None` when a segment
/// is an index (array elements are never created).
fn nest(keys: &[Seg<'_>], value: Value) -> Option<Value> {
    keys.iter().rev().try_fold(value, |nested, s| match s {
        Seg::Key(k) => {
            let mut m = Map::new();
            m.insert(k.as_ref().to_owned(), nested);
            Some(Value::Object(m))
        }
        Seg::Index(_) => None,
    })
}

/// [`Patcher::fill`] inside a value this patch already adds.
fn fill_within(cur: &mut Value, segs: &[Seg<'_>], value: Value) -> bool {
    let Some((first, rest)) = segs.split_first() else {
        return false; // the path itself is already set by this patch
    };
    match (cur, first) {
        (Value::Object(m), Seg::Key(k)) => match m.get_mut(k.as_ref()) {
            Some(v) if !v.is_null() => fill_within(v, rest, value),
            _ => match nest(rest, value) {
                Some(nested) => {
                    m.insert(k.as_ref().to_owned(), nested);
                    true
                }
                None => false,
            },
        },
        (Value::Array(a), Seg::Index(i)) => match a.get_mut(*i) {
            Some(v) if !v.is_null() => fill_within(v, rest, value),
            _ => false,
        },
        _ => false,
    }
}

#[derive(Debug)]
struct Op {
    path: Vec<Seg<'static>>,
    replace: bool,
    value: Value,
}

/// Accumulates gap-filling operations against an object.
///
/// It reads the original through the operations so far without copying it (a copy of a
/// Deployment with its managedFields cost more than all the defaults together): a path at or
/// below an added value reads that value, any other path reads the original. A parent that
/// only gained children reads as the original (no default decides on a sibling it added).
#[derive(Debug)]
pub struct Patcher<'a> {
    orig: &'a Value,
    ops: Vec<Op>,
}

impl<'a> Patcher<'a> {
    /// A patcher for `original`.
    pub fn new(original: &'a Value) -> Patcher<'a> {
        Patcher {
            orig: original,
            ops: Vec::new(),
        }
    }

    /// The operation whose value holds `path` (an added ancestor or the path itself).
    fn op_holding(&self, path: &[Seg<'_>]) -> Option<usize> {
        self.ops.iter().position(|op| path.starts_with(&op.path))
    }

    /// The value at `path`, with this patch's operations applied.
    pub fn get(&self, path: &Path<'_>) -> Option<&Value> {
        match self.op_holding(&path.0) {
            Some(i) => {
                let op = &self.ops[i];
                get_segs(&op.value, &path.0[op.path.len()..])
            }
            None => get(self.orig, path),
        }
    }

    /// Whether `path` holds a value other than `null`.
    pub fn is_set(&self, path: &Path<'_>) -> bool {
        self.get(path).is_some_and(|v| !v.is_null())
    }

    /// Sets `path` to `value` when it is absent or `null`, creating missing parent objects.
    /// Returns whether anything changed. Gives up (returns `false`) when an ancestor is not an
    /// object, or when an array element would have to be created.
    pub fn fill(&mut self, path: &Path<'_>, value: Value) -> bool {
        let segs = &path.0;
        // Under a value this patch adds: merge into that operation, keeping patches short.
        if let Some(i) = self.op_holding(segs) {
            let op = &mut self.ops[i];
            let at = op.path.len();
            return fill_within(&mut op.value, &segs[at..], value);
        }
        let mut cur = self.orig;
        for (i, seg) in segs.iter().enumerate() {
            let next = match (cur, seg) {
                (Value::Object(m), Seg::Key(k)) => lookup(m, k),
                (Value::Array(a), Seg::Index(n)) => match a.get(*n) {
                    Some(v) if !v.is_null() => Some(v),
                    _ => return false, // never create array elements
                },
                _ => return false, // not the shape we expect: leave it to validation
            };
            match next {
                Some(v) if !v.is_null() => cur = v,
                found => {
                    let Some(nested) = nest(&segs[i + 1..], value) else {
                        return false;
                    };
                    self.ops.push(Op {
                        path: segs[..=i].iter().map(Seg::to_static).collect(),
                        replace: found.is_some(),
                        value: nested,
                    });
                    return true;
                }
            }
        }
        false
    }

    /// Sets `path` to `value`, replacing a different existing value. Only for bulwark's own
    /// fields (the `bulwark.dev/defaulted` annotation).
    pub fn set(&mut self, path: &Path<'_>, value: Value) -> bool {
        match self.get(path) {
            Some(v) if v == &value => false,
            Some(v) if !v.is_null() => {
                match self.op_holding(&path.0) {
                    // Inside a value this patch adds: change it there.
                    Some(i) => {
                        let op = &mut self.ops[i];
                        let at = op.path.len();
                        if let Some(slot) = get_segs_mut(&mut op.value, &path.0[at..]) {
                            *slot = value;
                        }
                    }
                    None => self.ops.push(Op {
                        path: path.0.iter().map(Seg::to_static).collect(),
                        replace: true,
                        value,
                    }),
                }
                true
            }
            _ => self.fill(path, value),
        }
    }

    /// The RFC 6902 patch.
    pub fn into_patch(self) -> Patch {
        Patch(
            self.ops
                .into_iter()
                .map(|op| {
                    let path = Path(op.path).pointer();
                    if op.replace {
                        PatchOperation::Replace(ReplaceOperation {
                            path,
                            value: op.value,
                        })
                    } else {
                        PatchOperation::Add(AddOperation {
                            path,
                            value: op.value,
                        })
                    }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_eq_agrees_with_str_equality() {
        let words = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abce",
            "image",
            "images",
            "securityContext",
            "securityContexts",
            "securityContexx",
            "runAsNonRoot",
            "runAsNonRooT",
            "readOnlyRootFilesystem",
            "readOnlyRootFilesystex",
            "xeadOnlyRootFilesystem",
            "0123456789abcdef",
            "0123456789abcdeF",
            "0123456789abcdef0",
            "é",
            "éa",
        ];
        for a in words {
            for b in words {
                assert_eq!(key_eq(a, b), a == b, "{a:?} vs {b:?}");
            }
            // A difference at any one position, for every length (the word tails overlap).
            if a.is_ascii() {
                for i in 0..a.len() {
                    let mut other = a.as_bytes().to_vec();
                    other[i] ^= 0x01;
                    let other = String::from_utf8(other).expect("ascii");
                    assert!(!key_eq(a, &other), "{a:?} vs {other:?}");
                    assert!(key_eq(&a[..=i], &a[..=i]));
                }
            }
        }
    }

    fn ops(p: Patcher) -> Value {
        serde_json::to_value(p.into_patch()).expect("serializes")
    }

    #[test]
    fn adds_whole_missing_parent_and_merges_later_children() {
        let doc = json!({"spec": {"containers": [{"name": "a"}]}});
        let mut p = Patcher::new(&doc);
        let sc = Path::dotted("spec.containers")
            .idx(0)
            .key("securityContext");
        assert!(p.fill(&sc.key("privileged"), json!(false)));
        assert!(p.fill(&sc.key("capabilities").key("drop"), json!(["ALL"])));
        assert!(
            !p.fill(&sc.key("privileged"), json!(true)),
            "set values stay"
        );
        assert_eq!(
            ops(p),
            json!([{"op": "add", "path": "/spec/containers/0/securityContext",
                    "value": {"privileged": false, "capabilities": {"drop": ["ALL"]}}}])
        );
    }

    #[test]
    fn replaces_null_escapes_keys_and_never_creates_array_elements() {
        let doc = json!({"metadata": {"labels": null}, "spec": {"containers": []}});
        let mut p = Patcher::new(&doc);
        assert!(p.fill(&Path::dotted("metadata.labels").key("a.io/n~x"), json!("v")));
        assert!(p.fill(&Path::dotted("metadata.labels").key("b/c"), json!("w")));
        assert!(!p.fill(&Path::dotted("spec.containers").idx(0).key("x"), json!(1)));
        let doc_q = json!({"metadata": {"labels": {}}});
        let mut q = Patcher::new(&doc_q);
        assert!(q.fill(&Path::dotted("metadata.labels").key("a.io/n~x"), json!("v")));
        assert_eq!(
            ops(q),
            json!([{"op": "add", "path": "/metadata/labels/a.io~1n~0x", "value": "v"}])
        );
        assert_eq!(
            ops(p),
            json!([{"op": "replace", "path": "/metadata/labels", "value": {"a.io/n~x": "v", "b/c": "w"}}])
        );
    }

    #[test]
    fn wrong_shapes_are_left_alone() {
        let doc = json!({"spec": "text"});
        let mut p = Patcher::new(&doc);
        assert!(!p.fill(&Path::dotted("spec.x"), json!(1)));
        assert!(p.into_patch().0.is_empty());
    }

    #[test]
    fn set_replaces_only_different_values() {
        let path = Path::dotted("metadata.annotations").key("bulwark.dev/defaulted");
        let doc = json!({"metadata": {"annotations": {"bulwark.dev/defaulted": "a"}}});
        let mut p = Patcher::new(&doc);
        assert!(!p.set(&path, json!("a")));
        assert!(p.set(&path, json!("a,b")));
        assert_eq!(
            ops(p),
            json!([{"op": "replace", "path": "/metadata/annotations/bulwark.dev~1defaulted", "value": "a,b"}])
        );
    }
}
