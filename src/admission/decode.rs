//! Decoding an AdmissionReview in one pass: the envelope fields and, when the request's
//! kind is already known, the object straight into its typed view.
//!
//! The object is most of the body (a Deployment with managedFields is ~95% of a 9.5 KB
//! review), and reading it first as raw JSON, then again into the view, scanned it twice:
//! a third of the CPU of a `/validate` request. The API server writes `request.kind` and
//! `request.operation` before `request.object` (Go's encoding/json writes fields in
//! declaration order), so the object's type is known when its turn comes. Whenever that is
//! not so (fields in another order, `/mutate`, which needs the raw JSON to patch, a Pod
//! UPDATE, whose spec is compared as raw JSON), the object is kept raw and read as before.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

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
}

/// The `request` fields admission reads.
#[derive(Default)]
pub(super) struct RequestIn<'a> {
    pub uid: Option<String>,
    pub kind: Gvk<'a>,
    pub sub_resource: Option<Cow<'a, str>>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub operation: Option<Cow<'a, str>>,
    pub user_info: UserInfo,
    pub object: Option<ObjectIn<'a>>,
    pub old_object: Option<&'a RawValue>,
    pub dry_run: Option<bool>,
}

/// Decodes a review. `inline` allows reading the object into its view during the pass; a
/// decoding error with `inline` may come from the object alone, so callers retry without it
/// to get the envelope and report the object's error in the answer (see `Admission::review`).
pub(super) fn review(body: &[u8], inline: bool) -> Result<ReviewIn<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
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
    inline: bool,
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
    inline: bool,
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
                "subResource" => req.sub_resource = map.next_value()?,
                "name" => req.name = map.next_value()?,
                "namespace" => req.namespace = map.next_value()?,
                "operation" => req.operation = map.next_value()?,
                "userInfo" => {
                    req.user_info = map.next_value::<Option<UserInfo>>()?.unwrap_or_default()
                }
                "object" if self.inline && inline_kind(&req.kind, req.operation.as_deref()) => {
                    req.object = map
                        .next_value_seed(ObjectSeed(&req.kind.kind))?
                        .map(|w| ObjectIn::Parsed(Box::new(w)));
                }
                "object" => req.object = map.next_value::<Option<&RawValue>>()?.map(ObjectIn::Raw),
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

    fn parsed(b: &str, inline: bool) -> bool {
        let r = review(b.as_bytes(), inline).expect("decodes");
        let req = r.request.expect("request");
        matches!(req.object, Some(ObjectIn::Parsed(_)))
    }

    #[test]
    fn reads_the_object_inline_only_when_its_kind_came_first() {
        assert!(parsed(&body(false, "Deployment", "CREATE"), true));
        assert!(!parsed(&body(true, "Deployment", "CREATE"), true));
        assert!(!parsed(&body(false, "Deployment", "CREATE"), false));
        // Pod UPDATE compares raw specs; unknown kinds are never read.
        assert!(parsed(&body(false, "Pod", "CREATE"), true));
        assert!(!parsed(&body(false, "Pod", "UPDATE"), true));
        assert!(!parsed(&body(false, "Secret", "CREATE"), true));
    }

    #[test]
    fn inline_and_raw_views_agree() {
        let b = body(false, "Deployment", "CREATE");
        let inline = review(b.as_bytes(), true).expect("decodes");
        let raw = review(b.as_bytes(), false).expect("decodes");
        let (Some(ObjectIn::Parsed(a)), Some(ObjectIn::Raw(r))) = (
            inline.request.and_then(|r| r.object),
            raw.request.and_then(|r| r.object),
        ) else {
            panic!("expected one parsed and one raw object");
        };
        let b = Workload::from_json("Deployment", r.get()).expect("parses");
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn null_request_and_object_are_none_and_trailing_bytes_are_errors() {
        let r = review(br#"{"request":null}"#, true).expect("decodes");
        assert!(r.request.is_none());
        let b = r#"{"request":{"kind":{"kind":"Pod"},"operation":"CREATE","object":null}}"#;
        let r = review(b.as_bytes(), true).expect("decodes");
        assert!(r.request.and_then(|r| r.object).is_none());
        assert!(review(br#"{"request":null} x"#, true).is_err());
        assert!(review(b"[1]", true).is_err());
    }
}
