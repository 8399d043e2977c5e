//! Decoding an AdmissionReview in one pass: the envelope fields and, when the request's
//! kind is already known, the object straight into its typed view.
//!
//! The object is most of the body, and reading it first as raw JSON, then again into the
//! view, scanned it twice, a large share of a `/validate` request's CPU (docs/benchmarks.md,
//! "One-pass decoding"). The API server writes `request.kind` and
//! `request.operation` before `request.object` (Go's encoding/json writes fields in
//! declaration order), so the object's type is known when its turn comes. Whenever that is
//! not so (fields in another order, or a Pod UPDATE, whose spec is compared as raw JSON),
//! the object is kept raw and read as before. `/mutate` patches a JSON tree, so there the
//! object is read into the tree (without managedFields and status), and the view is then
//! built from the tree rather than from the text again.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::mutate;
use crate::workload::{Kind, Workload};

/// The envelope: `apiVersion`, `kind` and `request`.
pub(super) struct ReviewIn<'a> {
    pub api_version: Option<Cow<'a, str>>,
    pub kind: Option<Cow<'a, str>>,
    pub request: Option<RequestIn<'a>>,
}

/// `request.kind` (a GroupVersionKind; the version is not needed).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Gvk<'a> {
    #[serde(borrow)]
    pub group: Cow<'a, str>,
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
}

/// `request.resource` (a GroupVersionResource; the version is not needed): for a
/// subresource such as `scale`, it names the workload while `request.kind` names the Scale.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Gvr<'a> {
    #[serde(borrow)]
    pub group: Cow<'a, str>,
    #[serde(borrow)]
    pub resource: Cow<'a, str>,
}

/// `request.userInfo`: who is asking.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct UserInfo {
    pub username: String,
    pub groups: Vec<String>,
}

/// `request.object` as decoded.
pub(super) enum ObjectIn<'a> {
    /// Kept as JSON text, to be read later.
    Raw(&'a RawValue),
    /// Already read into its view during the envelope pass.
    Parsed(Box<Workload>),
    /// Already read into a JSON tree for patching (see [`mutate::parse_object`]).
    Tree(Value),
}

/// What to do with `request.object` when its kind is known before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Inline {
    /// Keep it raw.
    No,
    /// Read it into its view (`/validate`).
    View,
    /// Read it into a pruned JSON tree (`/mutate`).
    Tree,
}

/// The `request` fields admission reads.
#[derive(Default)]
pub(super) struct RequestIn<'a> {
    pub uid: Option<String>,
    pub kind: Gvk<'a>,
    pub resource: Gvr<'a>,
    pub sub_resource: Option<Cow<'a, str>>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub operation: Option<Cow<'a, str>>,
    pub user_info: UserInfo,
    pub object: Option<ObjectIn<'a>>,
    pub old_object: Option<&'a RawValue>,
    pub dry_run: Option<bool>,
}

/// Decodes a review. With `inline` other than `No` the object may be read during the pass;
/// a decoding error may then come from the object alone, so callers retry with `No` to get
/// the envelope and report the object's error in the answer (see `Admission::review`).
pub(super) fn review(body: &[u8], inline: Inline) -> Result<ReviewIn<'_>, serde_json::Error> {
    // JSON is UTF-8 (RFC 8259). Checking the whole body at once rejects invalid bytes even
    // in the parts that are only skipped (managedFields), and lets serde_json skip its
    // per-string check.
    let text = std::str::from_utf8(body).map_err(|e| {
        <serde_json::Error as de::Error>::custom(format_args!("request body is not UTF-8: {e}"))
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let review = de.deserialize_map(ReviewVisitor { inline })?;
    de.end()?;
    Ok(review)
}

/// Whether the object of a request with this kind and operation can be read during the
/// envelope pass: a kind the engine judges, and not a Pod UPDATE (whose raw spec is compared
/// with the old one, see `pod_spec_unchanged`).
fn inline_kind(kind: &Gvk<'_>, operation: Option<&str>) -> bool {
    match Kind::parse(&kind.kind) {
        Kind::Other => false,
        Kind::Pod => operation == Some("CREATE"),
        _ => true,
    }
}

struct ReviewVisitor {
    inline: Inline,
}

impl<'de> Visitor<'de> for ReviewVisitor {
    type Value = ReviewIn<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an AdmissionReview object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut review = ReviewIn {
            api_version: None,
            kind: None,
            request: None,
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "apiVersion" => review.api_version = map.next_value()?,
                "kind" => review.kind = map.next_value()?,
                "request" => {
                    review.request = map.next_value_seed(RequestSeed {
                        inline: self.inline,
                    })?
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(review)
    }
}

/// Reads `request` (or `null`).
struct RequestSeed {
    inline: Inline,
}

impl<'de> DeserializeSeed<'de> for RequestSeed {
    type Value = Option<RequestIn<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed {
    type Value = Option<RequestIn<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an AdmissionRequest object")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut req = RequestIn::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "uid" => req.uid = map.next_value()?,
                "kind" => req.kind = map.next_value::<Option<Gvk>>()?.unwrap_or_default(),
                "resource" => req.resource = map.next_value::<Option<Gvr>>()?.unwrap_or_default(),
                "subResource" => req.sub_resource = map.next_value()?,
                "name" => req.name = map.next_value()?,
                "namespace" => req.namespace = map.next_value()?,
                "operation" => req.operation = map.next_value()?,
                "userInfo" => {
                    req.user_info = map.next_value::<Option<UserInfo>>()?.unwrap_or_default()
                }
                "object" => {
                    let known = inline_kind(&req.kind, req.operation.as_deref());
                    req.object = match self.inline {
                        Inline::View if known => map
                            .next_value_seed(ObjectSeed(&req.kind.kind))?
                            .map(|w| ObjectIn::Parsed(Box::new(w))),
                        Inline::Tree if known => {
                            match map.next_value_seed(mutate::object_seed())? {
                                Value::Null => None,
                                tree => Some(ObjectIn::Tree(tree)),
                            }
                        }
                        _ => map.next_value::<Option<&RawValue>>()?.map(ObjectIn::Raw),
                    }
                }
                "oldObject" => req.old_object = map.next_value()?,
                "dryRun" => req.dry_run = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(req))
    }
}

/// Reads `request.object` (or `null`) into the view for `kind`.
struct ObjectSeed<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = Option<Workload>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_> {
    type Value = Option<Workload>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {} object", self.0)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Workload::deserialize_kind(self.0, d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(object_first: bool, kind: &str, op: &str) -> String {
        let object = format!(
            r#""object":{{"kind":"{kind}","metadata":{{"name":"a","managedFields":[{{"x":1}}]}},"spec":{{}}}}"#
        );
        let rest = format!(r#""uid":"u","kind":{{"group":"","kind":"{kind}"}},"operation":"{op}""#);
        let fields = if object_first {
            format!("{object},{rest}")
        } else {
            format!("{rest},{object}")
        };
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{{fields}}}}}"#
        )
    }

    fn parsed(b: &str, inline: Inline) -> bool {
        let r = review(b.as_bytes(), inline).expect("decodes");
        let req = r.request.expect("request");
        matches!(req.object, Some(ObjectIn::Parsed(_) | ObjectIn::Tree(_)))
    }

    #[test]
    fn reads_the_object_inline_only_when_its_kind_came_first() {
        for inline in [Inline::View, Inline::Tree] {
            assert!(parsed(&body(false, "Deployment", "CREATE"), inline));
            assert!(!parsed(&body(true, "Deployment", "CREATE"), inline));
            // Pod UPDATE compares raw specs; unknown kinds are never read.
            assert!(parsed(&body(false, "Pod", "CREATE"), inline));
            assert!(!parsed(&body(false, "Pod", "UPDATE"), inline));
            assert!(!parsed(&body(false, "Secret", "CREATE"), inline));
        }
        assert!(!parsed(&body(false, "Deployment", "CREATE"), Inline::No));
    }

    #[test]
    fn inline_and_raw_reads_agree() {
        let b = body(false, "Deployment", "CREATE");
        let object = |inline| {
            review(b.as_bytes(), inline)
                .expect("decodes")
                .request
                .and_then(|r| r.object)
        };
        let (Some(ObjectIn::Parsed(view)), Some(ObjectIn::Tree(tree)), Some(ObjectIn::Raw(raw))) = (
            object(Inline::View),
            object(Inline::Tree),
            object(Inline::No),
        ) else {
            panic!("expected a view, a tree and a raw object");
        };
        let from_raw = Workload::from_json("Deployment", raw.get()).expect("parses");
        let from_tree = Workload::from_value_as("Deployment", &tree).expect("parses");
        assert_eq!(format!("{view:?}"), format!("{from_raw:?}"));
        assert_eq!(format!("{from_tree:?}"), format!("{from_raw:?}"));
        assert_eq!(tree, mutate::parse_object(raw.get()).expect("parses"));
    }

    #[test]
    fn null_request_and_object_are_none_and_trailing_bytes_are_errors() {
        let r = review(br#"{"request":null}"#, Inline::View).expect("decodes");
        assert!(r.request.is_none());
        let b = r#"{"request":{"kind":{"kind":"Pod"},"operation":"CREATE","object":null}}"#;
        for inline in [Inline::No, Inline::View, Inline::Tree] {
            let r = review(b.as_bytes(), inline).expect("decodes");
            assert!(r.request.and_then(|r| r.object).is_none());
        }
        assert!(review(br#"{"request":null} x"#, Inline::View).is_err());
        assert!(review(b"[1]", Inline::View).is_err());
        // Invalid UTF-8 is an error even where the object is only skipped.
        let mut bytes =
            br#"{"request":{"kind":{"kind":"Pod"},"operation":"CREATE","object":"#.to_vec();
        bytes.extend_from_slice(br#"{"metadata":{"managedFields":[""#);
        bytes.push(0x80);
        bytes.extend_from_slice(br#""]}}}}"#);
        let e = review(&bytes, Inline::View).err().expect("an error");
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }
}
