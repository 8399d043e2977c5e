//! One YAML document read as kubectl reads it, merge keys (`<<`) included, so that the object
//! `bulwark check` judges is the one the API server would receive.
//!
//! kubectl turns YAML into JSON with sigs.k8s.io/yaml, which decodes with go-yaml v2. v2 fills
//! a mapping in document order, last write winning, and a merge key writes the entries of its
//! mapping (or of each mapping of its sequence, the last one first, so that the earliest wins)
//! at the point where the `<<` appears. So a key written after a `<<` overrides the merged
//! value, and a `<<` written after a key overrides that key: explicit keys do not always win,
//! unlike the YAML merge-key draft and serde_yaml_ng's `Value::apply_merge` (which also leaves
//! a `<<` nested in a merged mapping unresolved, and cannot tell `<<` from `"<<"`).
//!
//! v2 takes a key for a merge key when it is the plain scalar `<<` without a tag, or any `<<`
//! tagged `!!merge`; a quoted `"<<"` is an ordinary key (as is `"<<"` in JSON, which kubectl
//! decodes as JSON). serde does not show a scalar's style or a core tag, so both are read from
//! the text around the key; a `<<` key that is tagged, or that a tag might belong to, is an
//! error rather than a guess, because either guess can hide a field the cluster would see.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::workload::FieldStep;

/// Why a document could not be read.
#[derive(Debug)]
pub(super) struct Failure {
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Reads one document of `text` (the whole file, which the document borrows from: offsets and
/// lines are the file's) into JSON, with every merge key resolved.
pub(super) fn read_document<'de>(
    text: &'de str,
    doc: serde_yaml_ng::Deserializer<'de>,
) -> Result<Value, Failure> {
    let reader = Reader {
        text,
        failure: Cell::new(None),
        kinds: RefCell::new(HashMap::new()),
        has_tags: Cell::new(None),
    };
    Node(&reader).deserialize(doc).map_err(|e| {
        let line = e.location().map(|l| l.line());
        // A merge-key error carries the `<<` line and a message of its own; serde's error
        // for it would point at the merged value, which may be an anchor far away.
        match reader.failure.take() {
            Some(f) => Failure {
                line: f.line.or(line),
                message: f.message,
            },
            None => Failure {
                line,
                message: e.to_string(),
            },
        }
    })
}

/// How go-yaml v2 reads a `<<` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    /// A merge key: plain and untagged.
    Merge,
    /// An ordinary key named `<<`: quoted and untagged.
    Literal,
    /// Tagged, or next to a tag that may be its own: v2 merges `!!merge` and not `!!str`.
    Ambiguous,
}

/// Per-document state shared by the visitors.
struct Reader<'t> {
    text: &'t str,
    /// The first merge-key error, with its line (see `read_document`).
    failure: Cell<Option<Failure>>,
    /// `<<` keys already classified, by byte offset: an alias replays the same key.
    kinds: RefCell<HashMap<usize, KeyKind>>,
    /// Whether the text holds anything that may be a tag (computed on first need).
    has_tags: Cell<Option<bool>>,
}

impl Reader<'_> {
    /// Byte offset of `s` in the text, when `s` is a slice of it (serde_yaml_ng lends keys
    /// straight from the input when they need no unescaping, and a plain scalar never does).
    fn offset_of(&self, s: &str) -> Option<usize> {
        let at = s.as_ptr().addr().checked_sub(self.text.as_ptr().addr())?;
        (self.text.get(at..at + s.len()) == Some(s)).then_some(at)
    }

    fn line(&self, at: usize) -> usize {
        self.text.as_bytes()[..at]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn kind(&self, at: usize) -> KeyKind {
        *self
            .kinds
            .borrow_mut()
            .entry(at)
            .or_insert_with(|| classify(self.text, at))
    }

    fn has_tags(&self) -> bool {
        if let Some(known) = self.has_tags.get() {
            return known;
        }
        let known = self
            .text
            .match_indices('!')
            .any(|(i, _)| starts_token(self.text, i));
        self.has_tags.set(Some(known));
        known
    }

    /// Whether the value of the merge key at `at` is written as an alias (`<<: *name`).
    fn value_is_alias(&self, at: usize) -> bool {
        skip_separation(&self.text[at + 2..])
            .strip_prefix(':')
            .is_some_and(|rest| skip_separation(rest).starts_with('*'))
    }

    /// Records a merge-key error (the first one wins: it is the one serde reports) and
    /// returns it as the error that stops deserialization.
    fn fail<E: de::Error>(&self, at: Option<usize>, message: String) -> E {
        let error = E::custom(&message);
        let current = self.failure.take();
        self.failure.set(current.or(Some(Failure {
            line: at.map(|at| self.line(at)),
            message,
        })));
        error
    }

    fn bad_merge<E: de::Error>(&self, at: usize, found: &str) -> E {
        self.fail(
            Some(at),
            format!(
                "`<<` (a YAML merge key) takes a mapping or a sequence of mappings, not {found}; \
                 kubectl rejects this document too"
            ),
        )
    }
}

/// How v2 reads the `<<` whose first `<` is at byte `at` of `text`.
fn classify(text: &str, at: usize) -> KeyKind {
    let bytes = text.as_bytes();
    let quoted = at
        .checked_sub(1)
        .map(|i| bytes[i])
        .is_some_and(|q| matches!(q, b'"' | b'\'') && bytes.get(at + 2) == Some(&q));
    let start = if quoted { at - 1 } else { at };
    if may_be_tagged(text, start) {
        KeyKind::Ambiguous
    } else if quoted {
        KeyKind::Literal
    } else {
        KeyKind::Merge
    }
}

/// Whether a tag may belong to the node starting at `start`: some `!` that begins a token
/// before it is followed by nothing but whitespace, comments, anchors and tags up to `start`.
/// It errs towards yes (a `!` inside a string or comment counts), which makes an error,
/// never a wrong merge.
fn may_be_tagged(text: &str, start: usize) -> bool {
    let before = &text[..start];
    before
        .match_indices('!')
        .any(|(i, _)| starts_token(text, i) && only_properties_between(text, i, start))
}

/// Whether the `!` at `i` may begin a tag: tags follow whitespace or a flow indicator.
fn starts_token(text: &str, i: usize) -> bool {
    i == 0
        || matches!(text.as_bytes()[i - 1], b'{' | b'[' | b',' | b':')
        || text.as_bytes()[i - 1].is_ascii_whitespace()
}

/// Whether, from the token at `from` up to `start`, there are only node properties (tags,
/// anchors) and separation: then that token may be a property of the node at `start`.
fn only_properties_between(text: &str, from: usize, start: usize) -> bool {
    let bytes = text.as_bytes();
    let mut pos = from;
    loop {
        // The property token (`!tag` or `&anchor`) itself.
        while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos > start {
            // The token runs into the key, as in `!tag"<<"`.
            return true;
        }
        pos = start.min(text.len() - skip_separation(&text[pos..]).len());
        if pos >= start {
            return true;
        }
        if !matches!(bytes[pos], b'!' | b'&') {
            return false;
        }
    }
}

/// `s` past leading YAML whitespace and comments.
fn skip_separation(mut s: &str) -> &str {
    loop {
        s = s.trim_start_matches([' ', '\t', '\r', '\n']);
        match s.strip_prefix('#') {
            Some(comment) => s = comment.find('\n').map_or("", |n| &comment[n..]),
            None => return s,
        }
    }
}

/// Any value: scalars as serde_json makes them, mappings with their merge keys resolved.
#[derive(Clone, Copy)]
struct Node<'r, 't>(&'r Reader<'t>);

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value that has a JSON form")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        // serde_json's own rules for what does not fit 64 bits.
        de::Deserialize::deserialize(de::value::I128Deserializer::<E>::new(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        de::Deserialize::deserialize(de::value::U128Deserializer::<E>::new(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        resolve_map(self.0, map).map(Value::Object)
    }
}

/// A mapping, filled as go-yaml v2 fills it: in document order, last write winning, each
/// merge key writing its mappings where it stands.
fn resolve_map<'de, A: MapAccess<'de>>(
    reader: &Reader<'_>,
    mut map: A,
) -> Result<Map<String, Value>, A::Error> {
    let mut out = Map::new();
    while let Some(key) = map.next_key_seed(KeySeed(reader))? {
        match key {
            Key::Literal(name) => {
                let value = map.next_value_seed(Node(reader))?;
                out.insert(name, value);
            }
            Key::Merge(at) => {
                for source in map.next_value_seed(MergeValue { reader, at })? {
                    out.extend(source);
                }
            }
        }
    }
    Ok(out)
}

enum Key {
    Literal(String),
    /// A merge key, at this byte offset.
    Merge(usize),
}

/// A mapping key. Read as a string, as serde_json reads YAML keys (`1: x` is `"1"`).
struct KeySeed<'r, 't>(&'r Reader<'t>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Key;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key, E> {
        if v != "<<" {
            return Ok(Key::Literal(v.to_owned()));
        }
        let Some(at) = self.0.offset_of(v) else {
            return self.visit_str(v);
        };
        match self.0.kind(at) {
            KeyKind::Merge => Ok(Key::Merge(at)),
            KeyKind::Literal => Ok(Key::Literal(v.to_owned())),
            KeyKind::Ambiguous => Err(self.0.fail(Some(at), AMBIGUOUS.to_owned())),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        // A `<<` not lent from the text was unescaped or folded, so it is not plain: an
        // ordinary key, unless a tag (`!!merge`) may be on it. Its line is serde's.
        if v == "<<" && self.0.has_tags() {
            return Err(self.0.fail(None, AMBIGUOUS.to_owned()));
        }
        Ok(Key::Literal(v.to_owned()))
    }
}

const AMBIGUOUS: &str = "cannot tell whether this `<<` key is a YAML merge key: it is tagged or \
     escaped, or follows a tag, and kubectl merges `!!merge \"<<\"` but not `!!str <<`; write a \
     plain `<<` to merge";

/// The value of a merge key: the mappings to write, in the order v2 writes them.
struct MergeValue<'r, 't> {
    reader: &'r Reader<'t>,
    at: usize,
}

impl<'de> DeserializeSeed<'de> for MergeValue<'_, '_> {
    type Value = Vec<Map<String, Value>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// The scalar visits of a merge value's visitor, each an error naming what was found.
macro_rules! reject_scalars {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(self.reject("a boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(self.reject("a number"))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(self.reject("a number"))
        }
        fn visit_i128<E: de::Error>(self, _: i128) -> Result<Self::Value, E> {
            Err(self.reject("a number"))
        }
        fn visit_u128<E: de::Error>(self, _: u128) -> Result<Self::Value, E> {
            Err(self.reject("a number"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(self.reject("a number"))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(self.reject("a string"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Err(self.reject("null"))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Err(self.reject("null"))
        }
        fn visit_enum<A: EnumAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(self.reject("a value with a custom tag"))
        }
    };
}

impl MergeValue<'_, '_> {
    fn reject<E: de::Error>(&self, found: &str) -> E {
        self.reader.bad_merge(self.at, found)
    }
}

impl<'de> Visitor<'de> for MergeValue<'_, '_> {
    type Value = Vec<Map<String, Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a sequence of mappings")
    }

    reject_scalars!();

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(vec![resolve_map(self.reader, map)?])
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // v2 takes an alias only to a mapping: `<<: *list` fails even if the list holds
        // mappings.
        if self.reader.value_is_alias(self.at) {
            return Err(self.reject("an alias to a sequence"));
        }
        let mut sources = Vec::new();
        let element = MergeElement {
            reader: self.reader,
            at: self.at,
        };
        while let Some(source) = seq.next_element_seed(element)? {
            sources.push(source);
        }
        // v2 writes the last mapping first, so that the earliest one wins.
        sources.reverse();
        Ok(sources)
    }
}

/// One element of a merge key's sequence, which must be a mapping.
#[derive(Clone, Copy)]
struct MergeElement<'r, 't> {
    reader: &'r Reader<'t>,
    at: usize,
}

impl MergeElement<'_, '_> {
    fn reject<E: de::Error>(&self, found: &str) -> E {
        self.reader
            .bad_merge(self.at, &format!("a sequence holding {found}"))
    }
}

impl<'de> DeserializeSeed<'de> for MergeElement<'_, '_> {
    type Value = Map<String, Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MergeElement<'_, '_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    reject_scalars!();

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        resolve_map(self.reader, map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.reject("a sequence"))
    }
}

/// The 1-based line of the value at `path` in document `index` of `text` (the whole file),
/// or of the deepest part of the path that is there; `None` when not even the first step is.
///
/// Used only once an object has failed to parse, to point at the field that failed: serde's
/// YAML errors carry the line of the node being read, so the locator reads its way down the
/// path and fails on purpose at the target. The key's own line is reported for a mapping
/// entry (a block value starts on the next line). A merge key's mappings are searched as if
/// written in place, which finds the anchor's line for a merged field.
pub(super) fn line_of(text: &str, index: usize, path: &[FieldStep]) -> Option<usize> {
    // Shorter and shorter prefixes: a step may be missing when the error is about a value
    // a merge overrode, or about a key that had to be unescaped.
    (1..=path.len()).rev().find_map(|len| {
        let doc = serde_yaml_ng::Deserializer::from_str(text).nth(index)?;
        let seed = Locate(&path[..len]);
        match de::DeserializeSeed::deserialize(seed, doc) {
            Err(e) if e.to_string().contains(HERE) => e.location().map(|l| l.line()),
            _ => None,
        }
    })
}

/// The message of the error the locator raises at its target.
const HERE: &str = "bulwark: located";

/// Reads a node, descending along the remaining steps; fails at the end of the path.
#[derive(Clone, Copy)]
struct Locate<'p>(&'p [FieldStep]);

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.0.is_empty() {
            // Fail while reading the node, so the error carries the node's position.
            return d.deserialize_any(Here);
        }
        d.deserialize_any(self)
    }
}

/// Fails on whatever node it is given.
struct Here;

impl Here {
    fn fail<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(HERE))
    }
}

impl<'de> Visitor<'de> for Here {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.fail()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.fail()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.fail()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.fail()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.fail()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.fail()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.fail()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        self.fail()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.fail()
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.fail()
    }
    fn visit_enum<A: EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.fail()
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_enum<A: EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Ok(()) // a tagged value: nothing the path can go through
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (FieldStep::Index(target), rest) = (&self.0[0], &self.0[1..]) else {
            while seq.next_element::<de::IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        while i < *target {
            if seq.next_element::<de::IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
        seq.next_element_seed(Locate(rest))?;
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (FieldStep::Key(target), rest) = (&self.0[0], &self.0[1..]) else {
            while map
                .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                .is_some()
            {}
            return Ok(());
        };
        // At the last step the key itself is the target: its line is the entry's.
        while let Some(key) = map.next_key_seed(LocateKey {
            target,
            here: rest.is_empty(),
        })? {
            if key == "<<" {
                map.next_value_seed(Merged(self))?;
            } else if key == *target {
                map.next_value_seed(Locate(rest))?;
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// A mapping key, failing when it is the target at the end of the path.
struct LocateKey<'t> {
    target: &'t str,
    here: bool,
}

impl<'de> DeserializeSeed<'de> for LocateKey<'_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        // Failing inside the visit, not after it, is what gives the error the key's position.
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for LocateKey<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        if self.here && key == self.target {
            return Err(E::custom(HERE));
        }
        Ok(key.to_owned())
    }
}

/// The value of a merge key: a mapping, or a sequence of mappings, whose keys belong to the
/// mapping the `<<` is in, so the same steps continue in each.
struct Merged<'p>(Locate<'p>);

impl<'de> DeserializeSeed<'de> for Merged<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Merged<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a sequence of mappings")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.0.visit_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self.0)?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The single document of `text`, resolved.
    fn read(text: &str) -> Result<Value, Failure> {
        let doc = serde_yaml_ng::Deserializer::from_str(text)
            .next()
            .expect("one document");
        read_document(text, doc)
    }

    fn ok(text: &str) -> Value {
        read(text).unwrap_or_else(|f| panic!("{text:?}: {f:?}"))
    }

    fn err(text: &str) -> Failure {
        match read(text) {
            Ok(v) => panic!("{text:?} read as {v}"),
            Err(f) => f,
        }
    }

    #[test]
    fn merges_a_mapping_an_alias_and_a_sequence() {
        let v = ok("a: &d {privileged: true, runAsUser: 0}\nb:\n  <<: *d\nc:\n  <<: {x: 1}\n");
        assert_eq!(
            v["b"],
            serde_json::json!({"privileged": true, "runAsUser": 0})
        );
        assert_eq!(v["c"], serde_json::json!({"x": 1}));
        // Earlier mappings of a sequence win, and the merged keys sit where `<<` stood.
        let v = ok("m:\n  first: 0\n  <<: [{p: 1}, {p: 2, q: 2}]\n  last: 3\n");
        assert_eq!(
            v["m"],
            serde_json::json!({"first": 0, "p": 1, "q": 2, "last": 3})
        );
        let keys: Vec<&String> = v["m"]
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["first", "p", "q", "last"]);
    }

    #[test]
    fn document_order_decides_between_explicit_and_merged_keys() {
        // After the merge, the explicit key wins...
        assert_eq!(
            ok("<<: {privileged: true}\nprivileged: false\n")["privileged"],
            false
        );
        // ...but a merge after it overrides it, as go-yaml v2 does: an "explicit keys win"
        // resolver would pass this object, and the cluster would run it privileged.
        assert_eq!(
            ok("privileged: false\n<<: {privileged: true}\n")["privileged"],
            true
        );
        // Repeated merge keys apply in turn.
        assert_eq!(ok("<<: {a: 1}\n<<: {a: 2}\n")["a"], 2);
    }

    #[test]
    fn merges_resolve_inside_merged_mappings_and_at_every_level() {
        let v =
            ok("base: &b {<<: {privileged: true}, x: 1}\nlist:\n- spec:\n    c:\n      <<: *b\n");
        assert_eq!(
            v["list"][0]["spec"]["c"],
            serde_json::json!({"privileged": true, "x": 1})
        );
        assert!(v["base"].get("<<").is_none(), "{v}");
        // The merged value is replaced, not merged deeply.
        let v = ok("<<: {sc: {a: 1, b: 1}}\nsc: {a: 2}\n");
        assert_eq!(v["sc"], serde_json::json!({"a": 2}));
    }

    #[test]
    fn a_quoted_key_is_an_ordinary_key() {
        let v = ok("privileged: true\n\"<<\": {privileged: false}\n'<<': {x: 1}\n");
        assert_eq!(v["privileged"], true);
        assert_eq!(v["<<"], serde_json::json!({"x": 1}));
        // JSON read as YAML (stdin): JSON keys are quoted, so `"<<"` stays a key.
        let v = ok("{\"kind\": \"Pod\", \"<<\": {\"privileged\": true}}");
        assert_eq!(v["<<"]["privileged"], true);
        assert!(v.get("privileged").is_none(), "{v}");
    }

    #[test]
    fn a_tag_on_or_before_the_key_is_an_error() {
        for text in [
            "a: 1\n!!merge \"<<\": {privileged: true}\n",
            "a: 1\n!!str <<: {privileged: true}\n",
            "{a: 1, !!merge &k \"<<\": {privileged: true}}\n",
            "? !!merge # why not\n  \"<<\"\n: {privileged: true}\n",
            "a: 1\n\"\\x3c<\": {privileged: true}\nb: !!str x\n",
        ] {
            let f = err(text);
            assert!(f.message.contains("cannot tell"), "{text:?}: {f:?}");
            assert!(f.line.is_some(), "{text:?}: {f:?}");
        }
        // A tag elsewhere does not matter, nor does an escaped key in a text without tags.
        assert_eq!(ok("a: !!str 1\nb:\n  <<: {x: 1}\n")["b"]["x"], 1);
        assert_eq!(ok("\"\\x3c<\": {x: 1}\n")["<<"]["x"], 1);
        assert_eq!(ok("a: wow! # hey !\nb:\n  <<: {x: 1}\n")["b"]["x"], 1);
    }

    #[test]
    fn a_bad_merge_value_is_an_error_on_the_key_line() {
        for (text, line, found) in [
            ("a: 1\nb:\n  <<: 5\n", 3, "not a number"),
            ("a: 1\nb:\n  <<: x\n", 3, "not a string"),
            ("a: 1\nb:\n  <<:\n", 3, "not null"),
            ("a: &s 5\nb:\n  x: 1\n  <<: *s\n", 4, "not a number"),
            (
                "a: 1\nb:\n  <<: [{x: 1}, 2]\n",
                3,
                "not a sequence holding a number",
            ),
            (
                "a: 1\nb:\n  <<: [[{x: 1}]]\n",
                3,
                "not a sequence holding a sequence",
            ),
            (
                "l: &l [{x: 1}]\nb:\n  <<: *l\n",
                3,
                "not an alias to a sequence",
            ),
            (
                "a: 1\nb:\n  c:\n    <<: {d: {<<: true}}\n",
                4,
                "not a boolean",
            ),
        ] {
            let f = err(text);
            assert_eq!(f.line, Some(line), "{text:?}: {f:?}");
            assert!(f.message.contains(found), "{text:?}: {f:?}");
            assert!(f.message.contains("`<<`"), "{text:?}: {f:?}");
        }
        // An empty sequence or mapping merges nothing.
        assert_eq!(ok("a:\n  <<: []\n  <<: {}\n")["a"], serde_json::json!({}));
    }

    fn steps(path: &str) -> Vec<FieldStep> {
        path.split('.')
            .flat_map(|part| {
                let mut it = part.split('[');
                let key = it.next().unwrap_or_default();
                std::iter::once(FieldStep::Key(key.to_owned())).chain(
                    it.map(|i| FieldStep::Index(i.trim_end_matches(']').parse().expect("index"))),
                )
            })
            .collect()
    }

    #[test]
    fn line_of_finds_keys_items_and_merged_fields() {
        let text = "a: 1\n---\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        env:\n        - {name: X, value: true}\n      - name: b\n        ports:\n          - containerPort: '80'\n";
        let line = |path: &str| line_of(text, 1, &steps(path));
        assert_eq!(
            line("spec.template.spec.containers[0].env[0].value"),
            Some(10)
        );
        assert_eq!(
            line("spec.template.spec.containers[1].ports[0].containerPort"),
            Some(13)
        );
        // A block value: the key's line, not the line below.
        assert_eq!(line("spec.template.spec.containers"), Some(7));
        // An item: its own line.
        assert_eq!(line("spec.template.spec.containers[1]"), Some(11));
        // Missing steps fall back to the deepest one there.
        assert_eq!(line("spec.template.spec.containers[5].image"), Some(7));
        assert_eq!(line("spec.template.nope"), Some(5));
        assert_eq!(line("nothing.at.all"), None);
        assert_eq!(line_of(text, 0, &steps("a")), Some(1));
        assert_eq!(line_of(text, 2, &steps("a")), None);

        // A field that came in through a merge key: where it is written, under the anchor.
        let text = "x: &sc\n  runAsUser: root\nspec:\n  securityContext:\n    <<: *sc\n";
        assert_eq!(
            line_of(text, 0, &steps("spec.securityContext.runAsUser")),
            Some(2)
        );
        let text = "spec:\n  c:\n    <<: [{a: 1}, {b: x}]\n";
        assert_eq!(line_of(text, 0, &steps("spec.c.b")), Some(3));
    }

    #[test]
    fn scalars_read_as_serde_json_reads_them() {
        let v = ok("a: 1\nb: -2\nc: 1.5\nd: .nan\ne: ~\ng: true\nh: '1'\n1: k\n");
        assert_eq!(
            v,
            serde_json::json!({"a": 1, "b": -2, "c": 1.5, "d": null, "e": null, "g": true, "h": "1", "1": "k"})
        );
    }
}
