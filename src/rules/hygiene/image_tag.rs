//! `image-tag`: every container image is pinned: a tag other than `latest`, or a digest.
//! With `requireDigest`, only an `@sha256:` digest counts (tags are mutable).

use serde::{Deserialize, Serialize};

use crate::engine::{Category, CheckCx, ParamsSpec, Rule, RuleMeta, RuleParams, Severity, Sink};

/// The rule.
pub struct ImageTag;

static META: RuleMeta = RuleMeta {
    id: "image-tag",
    category: Category::Hygiene,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "Container images are pinned to a tag other than latest, or to an @sha256: digest (required with requireDigest)",
    remediation: "Reference images by a version tag (app:1.4.2) or, better, by digest (app@sha256:...)",
};

/// The parts of an image reference `[registry[:port]/]path[:tag][@digest]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImageRef<'a> {
    /// Registry and repository path, without tag or digest.
    pub name: &'a str,
    /// The tag, if any (never empty).
    pub tag: Option<&'a str>,
    /// The digest (`algorithm:hex`), if any (never empty).
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// Splits `image`. The tag is a `:` in the last path component, so a registry port
    /// (`localhost:5000/app`) is not a tag.
    pub fn parse(image: &'a str) -> ImageRef<'a> {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d).filter(|d| !d.is_empty())),
            None => (image, None),
        };
        let last = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last..].rfind(':') {
            Some(i) => (
                &rest[..last + i],
                Some(&rest[last + i + 1..]).filter(|t| !t.is_empty()),
            ),
            None => (rest, None),
        };
        ImageRef { name, tag, digest }
    }

    /// Whether the digest is a well-formed `sha256:` followed by 64 hex digits.
    pub fn has_sha256_digest(&self) -> bool {
        self.digest
            .and_then(|d| d.strip_prefix("sha256:"))
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    }
}

/// `rules.image-tag` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Only an `@sha256:` digest pins an image (production clusters): tags can be moved.
    pub require_digest: bool,
}

impl RuleParams for Params {}

impl Rule for ImageTag {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn params(&self) -> Option<ParamsSpec> {
        Some(ParamsSpec::of::<Params>())
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        let require_digest = cx.policy.params::<Params>().require_digest;
        for c in pod.all_containers() {
            // Built only for a finding: this rule runs on every container of every review.
            let path = || cx.pod_path(&format!("{}.image", c.rel_path()));
            let name = &c.container.name;
            let Some(image) = c
                .container
                .image
                .as_deref()
                .filter(|i| !i.trim().is_empty())
            else {
                out.report(path(), format!("container {name:?} has no image"));
                continue;
            };
            let r = ImageRef::parse(image);
            if require_digest {
                if !r.has_sha256_digest() {
                    out.report(
                        path(),
                        format!(
                            "container {name:?} image {image:?} is not pinned by an @sha256: digest"
                        ),
                    );
                }
                continue;
            }
            // A digest pins the image whatever the tag says: the runtime pulls by digest.
            if r.digest.is_some() {
                continue;
            }
            match r.tag {
                None => out.report(
                    path(),
                    format!("container {name:?} image {image:?} has no tag: it means latest, which changes under you"),
                ),
                Some("latest") => out.report(
                    path(),
                    format!("container {name:?} image {image:?} uses the mutable tag latest"),
                ),
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::rules::testing::{paths, run, run_with};

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn pod(images: &[&str]) -> String {
        let cs: Vec<String> = images
            .iter()
            .enumerate()
            .map(|(i, img)| format!("{{name: c{i}, image: '{img}'}}"))
            .collect();
        format!(
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{}]\n",
            cs.join(", ")
        )
    }

    #[test]
    fn parses_references() {
        let p = ImageRef::parse;
        assert_eq!(
            p("nginx"),
            ImageRef {
                name: "nginx",
                tag: None,
                digest: None
            }
        );
        assert_eq!(p("nginx:1.27").tag, Some("1.27"));
        assert_eq!(
            p("localhost:5000/app"),
            ImageRef {
                name: "localhost:5000/app",
                tag: None,
                digest: None
            }
        );
        assert_eq!(
            p("localhost:5000/team/app:v2"),
            ImageRef {
                name: "localhost:5000/team/app",
                tag: Some("v2"),
                digest: None
            }
        );
        let d = format!("registry.example.com:443/app:1.0@{SHA}");
        let r = ImageRef::parse(&d);
        assert_eq!(
            (r.name, r.tag, r.digest),
            ("registry.example.com:443/app", Some("1.0"), Some(SHA))
        );
        assert!(r.has_sha256_digest());
        assert!(!ImageRef::parse("app@sha256:abc").has_sha256_digest());
        assert_eq!(p("app:").tag, None);
    }

    #[test]
    fn tagged_and_digested_images_pass() {
        let d = format!("app@{SHA}");
        assert!(
            run(
                &ImageTag,
                &pod(&["nginx:1.27", "localhost:5000/app:v1", &d])
            )
            .is_empty()
        );
    }

    #[test]
    fn untagged_latest_and_missing_images_are_findings() {
        let f = run(
            &ImageTag,
            &pod(&["nginx", "nginx:latest", "localhost:5000/app", "ok:1"]),
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[0].image",
                "spec.template.spec.containers[1].image",
                "spec.template.spec.containers[2].image",
            ]
        );
        assert!(f[1].message.contains("latest"));
        let f = run(
            &ImageTag,
            "kind: Pod\nspec:\n  containers: [{name: a, image: 'a:1'}]\n  initContainers: [{name: i}]\n",
        );
        assert_eq!(paths(&f), ["spec.initContainers[0].image"]);
    }

    #[test]
    fn require_digest_needs_sha256() {
        let mut policy = Policy::default();
        assert!(policy.set_params(Params {
            require_digest: true
        }));
        let d = format!("app:1@{SHA}");
        let f = run_with(
            &ImageTag,
            &pod(&[&d, "app:1.2.3", "app@sha256:short"]),
            &policy,
            None,
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[1].image",
                "spec.template.spec.containers[2].image",
            ]
        );
        assert!(f[0].message.contains("@sha256:"));
    }
}
