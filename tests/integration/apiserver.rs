//! A stand-in Kubernetes API server for running the real `bulwark` binary against a cluster:
//! plain HTTP on a loopback port (kube takes an `http://` server from a kubeconfig), on a
//! thread and runtime of its own so a test can block on the binary while it serves.
//!
//! It holds objects by resource, seeded from recorded list responses
//! (`tests/fixtures/cluster/<plural>.json`), and speaks the parts of the API protocol the
//! binary uses:
//! - lists with `limit` and `continue` (pages are capped small, as a server may, so every
//!   client's pagination is exercised), `labelSelector` (equality), `metadata.resourceVersion`,
//!   items without `kind`/`apiVersion` as the API server writes built-in kinds, and the
//!   metadata-only form (`Accept: ...;as=PartialObjectMetadataList`);
//! - watches (`?watch=true&resourceVersion=N`): the events after N as JSON lines, a
//!   `BOOKMARK`, then the connection held open for later events;
//! - `GET /version`, get, create (409 when it exists), replace (409 on a stale
//!   `resourceVersion`), server-side apply (`application/apply-patch+yaml` with a
//!   `fieldManager`), delete; every write becomes a watch event;
//! - a bearer token, as a kubeconfig user gives it; a request without it gets 401.
//!
//! Every request is recorded, so tests assert what the binary sent, not only what it did.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as Shared};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc;
use serde_json::{Value, json};

/// The bearer token the kubeconfig hands the client.
pub const TOKEN: &str = "stand-in-token";

/// A resource the stand-in serves.
#[derive(Debug)]
pub struct Resource {
    group: &'static str,
    version: &'static str,
    /// The plural, unique among the served resources: the key objects are held by.
    pub plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    /// A custom resource: the API server writes `kind` and `apiVersion` on its list items.
    custom: bool,
}

const fn res(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    custom: bool,
) -> Resource {
    Resource {
        group,
        version,
        plural,
        kind,
        namespaced,
        custom,
    }
}

/// What the stand-in serves: the kinds bulwark reads, the CRDs it reads and writes, Leases.
pub const RESOURCES: [Resource; 18] = [
    res("", "v1", "resourcequotas", "ResourceQuota", true, false),
    res("", "v1", "limitranges", "LimitRange", true, false),
    res(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        false,
    ),
    res("", "v1", "namespaces", "Namespace", false, false),
    res("", "v1", "pods", "Pod", true, false),
    res(
        "",
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        true,
        false,
    ),
    res("apps", "v1", "deployments", "Deployment", true, false),
    res("apps", "v1", "statefulsets", "StatefulSet", true, false),
    res("apps", "v1", "daemonsets", "DaemonSet", true, false),
    res("apps", "v1", "replicasets", "ReplicaSet", true, false),
    res("batch", "v1", "jobs", "Job", true, false),
    res("batch", "v1", "cronjobs", "CronJob", true, false),
    res(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        false,
    ),
    res(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        false,
    ),
    res("coordination.k8s.io", "v1", "leases", "Lease", true, false),
    res(
        "bulwark.dev",
        "v1alpha1",
        "bulwarkexceptions",
        "BulwarkException",
        true,
        true,
    ),
    res(
        "wgpolicyk8s.io",
        "v1alpha2",
        "policyreports",
        "PolicyReport",
        true,
        true,
    ),
    res(
        "wgpolicyk8s.io",
        "v1alpha2",
        "clusterpolicyreports",
        "ClusterPolicyReport",
        false,
        true,
    ),
];

impl Resource {
    fn api_version(&self) -> String {
        match self.group {
            "" => self.version.to_owned(),
            g => format!("{g}/{}", self.version),
        }
    }

    fn prefix(&self) -> String {
        match self.group {
            "" => format!("/api/{}", self.version),
            g => format!("/apis/{g}/{}", self.version),
        }
    }

    fn of_plural(plural: &str) -> &'static Resource {
        RESOURCES
            .iter()
            .find(|r| r.plural == plural)
            .unwrap_or_else(|| panic!("the stand-in serves no {plural}"))
    }

    /// The path of an object (or, with `name` empty, of a collection) of this resource.
    pub fn path(&self, namespace: &str, name: &str) -> String {
        let mut p = self.prefix();
        if !namespace.is_empty() {
            p += &format!("/namespaces/{namespace}");
        }
        p += &format!("/{}", self.plural);
        if !name.is_empty() {
            p += &format!("/{name}");
        }
        p
    }
}

/// The path of one object of `plural`.
pub fn path(plural: &str, namespace: &str, name: &str) -> String {
    Resource::of_plural(plural).path(namespace, name)
}

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Method.
    pub method: Method,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: String,
    /// `Content-Type`.
    pub content_type: String,
    /// The body, parsed (JSON or YAML); `Null` when empty.
    pub body: Value,
}

impl Logged {
    /// Whether the query has `key=value` (as sent, percent-encoded).
    pub fn has(&self, kv: &str) -> bool {
        self.query.split('&').any(|q| q == kv)
    }

    /// The value of query parameter `key`, as sent.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .split('&')
            .find_map(|q| q.strip_prefix(key)?.strip_prefix('='))
    }
}

/// An open watch.
struct Watch {
    plural: &'static str,
    namespace: Option<String>,
    tx: mpsc::UnboundedSender<Result<Bytes, Infallible>>,
}

/// Objects, events and the request log.
struct State {
    /// Objects by plural, then by (namespace, name).
    objects: BTreeMap<&'static str, BTreeMap<(String, String), Value>>,
    /// The last resourceVersion handed out (one counter for everything, as etcd's).
    rv: u64,
    /// Every change, by plural: (resourceVersion, namespace, event).
    events: BTreeMap<&'static str, Vec<(u64, String, Value)>>,
    watches: Vec<Watch>,
    log: Vec<Logged>,
    /// Most items in one list page, whatever `limit` asks.
    page_cap: usize,
}

/// A `Status` failure body.
fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code})
}

fn reply(code: u16, body: &Value) -> Response {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn rv_of(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn key_of(v: &Value) -> (String, String) {
    let m = &v["metadata"];
    let s = |f: &str| m[f].as_str().unwrap_or_default().to_owned();
    (s("namespace"), s("name"))
}

/// Whether `object`'s labels satisfy an equality selector (`a=b,c=d`, percent-decoded).
fn selected(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap_or((term, ""));
        object["metadata"]["labels"][k].as_str() == Some(v)
    })
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl State {
    fn event_line(kind: &str, object: &Value) -> Bytes {
        let mut line = json!({"type": kind, "object": object}).to_string();
        line.push('\n');
        Bytes::from(line)
    }

    /// Stores `object` (a full object) as the next version and tells the watches.
    fn put(&mut self, r: &'static Resource, mut object: Value, event: &str) -> Value {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let key = key_of(&object);
        self.objects
            .entry(r.plural)
            .or_default()
            .insert(key.clone(), object.clone());
        self.emit(r, event, &key.0, &object);
        object
    }

    fn emit(&mut self, r: &'static Resource, event: &str, namespace: &str, object: &Value) {
        self.events.entry(r.plural).or_default().push((
            self.rv,
            namespace.to_owned(),
            json!({"type": event, "object": object}),
        ));
        let line = Self::event_line(event, object);
        self.watches.retain(|w| {
            if w.plural != r.plural || w.namespace.as_deref().is_some_and(|ns| ns != namespace) {
                return !w.tx.is_closed();
            }
            w.tx.unbounded_send(Ok(line.clone())).is_ok()
        });
    }

    fn list(&self, call: &Call, headers: &HeaderMap) -> Value {
        let (r, ns, query) = (call.r, call.ns.as_str(), &call.query);
        let selector = query.get("labelSelector").unwrap_or_default();
        let all: Vec<&Value> = self
            .objects
            .get(r.plural)
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|o| ns.is_empty() || o["metadata"]["namespace"] == ns)
            .filter(|o| selected(o, &selector))
            .collect();
        // A continue token is "rv:offset": later pages say the first page's version.
        let (rv, offset) = query
            .get("continue")
            .and_then(|c| {
                let (rv, at) = c.split_once(':')?;
                Some((rv.parse().ok()?, at.parse().ok()?))
            })
            .unwrap_or((self.rv, 0usize));
        let limit = query
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0)
            .unwrap_or(usize::MAX)
            .min(self.page_cap);
        let page: Vec<&Value> = all.iter().skip(offset).take(limit).copied().collect();
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if offset + page.len() < all.len() {
            metadata["continue"] = json!(format!("{rv}:{}", offset + page.len()));
        }
        let metadata_only = headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("as=PartialObjectMetadataList"));
        let items: Vec<Value> = page
            .into_iter()
            .map(|o| {
                if metadata_only {
                    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                        "metadata": o["metadata"]})
                } else if r.custom {
                    o.clone()
                } else {
                    let mut item = o.clone();
                    if let Some(map) = item.as_object_mut() {
                        map.remove("kind");
                        map.remove("apiVersion");
                    }
                    item
                }
            })
            .collect();
        if metadata_only {
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                "metadata": metadata, "items": items})
        } else {
            json!({"apiVersion": r.api_version(), "kind": format!("{}List", r.kind),
                "metadata": metadata, "items": items})
        }
    }
}

/// Query parameters, percent-decoded.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: &str) -> Query {
        Query(
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
}

/// Where a path points: a resource, a namespace (empty for all or cluster-scoped), and an
/// object name (empty for the collection).
fn route(path: &str) -> Option<(&'static Resource, String, String)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (ns, plural, name) = match rest {
        [plural] => ("", *plural, ""),
        // `/api/v1/namespaces/NAME` is a Namespace, not a namespaced collection.
        ["namespaces", name] => ("", "namespaces", *name),
        ["namespaces", ns, plural] => (*ns, *plural, ""),
        ["namespaces", ns, plural, name] => (*ns, *plural, *name),
        [plural, name] => ("", *plural, *name),
        _ => return None,
    };
    let r = RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)?;
    Some((r, ns.to_owned(), name.to_owned()))
}

fn version() -> Value {
    json!({"major": "1", "minor": "33", "gitVersion": "v1.33.1-stand-in",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2025-05-15T00:00:00Z", "goVersion": "go1.24.2", "compiler": "gc",
        "platform": "linux/amd64"})
}

type Handle = Arc<Mutex<State>>;

fn lock(state: &Handle) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A failure answer, as the API server words them.
fn fail(code: u16, reason: &str, message: &str) -> Response {
    reply(code, &status(code, reason, message))
}

/// One request to a resource, read.
struct Call {
    r: &'static Resource,
    /// The namespace in the path (empty: all, or cluster-scoped).
    ns: String,
    /// The object's name (empty: the collection).
    name: String,
    query: Query,
    body: Value,
}

impl Call {
    fn key(&self) -> (String, String) {
        (self.ns.clone(), self.name.clone())
    }

    fn not_found(&self) -> Response {
        let what = format!(
            "{}.{} {:?} not found",
            self.r.plural, self.r.group, self.name
        );
        fail(404, "NotFound", &what)
    }
}

async fn handle(Shared(state): Shared<Handle>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = match (bytes.is_empty(), content_type.contains("yaml")) {
        (true, _) => Value::Null,
        (false, true) => serde_yaml_ng::from_slice(&bytes).unwrap_or(Value::Null),
        (false, false) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    let path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let mut st = lock(&state);
    st.log.push(Logged {
        method: parts.method.clone(),
        path: path.clone(),
        query: raw_query.clone(),
        content_type: content_type.clone(),
        body: body.clone(),
    });
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if token != Some(&format!("Bearer {TOKEN}")) {
        return fail(401, "Unauthorized", "Unauthorized");
    }
    if path == "/version" {
        return reply(200, &version());
    }
    let Some((r, ns, name)) = route(&path) else {
        return fail(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let call = Call {
        r,
        ns,
        name,
        query: Query::parse(&raw_query),
        body,
    };
    let watch = matches!(call.query.get("watch").as_deref(), Some("true" | "1"));
    match (parts.method, call.name.is_empty()) {
        (Method::GET, true) if watch => st.watch(call),
        (Method::GET, true) => reply(200, &st.list(&call, &parts.headers)),
        (Method::GET, false) => match st.objects.get(r.plural).and_then(|m| m.get(&call.key())) {
            Some(o) => reply(200, o),
            None => call.not_found(),
        },
        (Method::POST, true) => st.create(call),
        (Method::PUT, false) => st.replace(call),
        (Method::PATCH, false) if content_type == "application/apply-patch+yaml" => st.apply(call),
        (Method::PATCH, false) => fail(
            415,
            "UnsupportedMediaType",
            "the stand-in takes server-side apply only",
        ),
        (Method::DELETE, false) => st.delete(call),
        _ => fail(
            405,
            "MethodNotAllowed",
            "the stand-in does not serve this request",
        ),
    }
}

impl State {
    fn get(&self, call: &Call) -> Option<&Value> {
        self.objects.get(call.r.plural)?.get(&call.key())
    }

    /// The events after the watch's `resourceVersion`, a BOOKMARK, then whatever comes.
    fn watch(&mut self, call: Call) -> Response {
        let (r, ns) = (call.r, call.ns);
        let since = call
            .query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.rv);
        let (tx, rx) = mpsc::unbounded();
        let missed = self.events.get(r.plural).into_iter().flatten();
        for (_, _, event) in
            missed.filter(|(rv, at, _)| *rv > since && (ns.is_empty() || *at == ns))
        {
            let _ = tx.unbounded_send(Ok(Bytes::from(format!("{event}\n"))));
        }
        let bookmark = json!({"kind": r.kind, "apiVersion": r.api_version(),
            "metadata": {"resourceVersion": self.rv.to_string()}});
        let _ = tx.unbounded_send(Ok(State::event_line("BOOKMARK", &bookmark)));
        self.watches.push(Watch {
            plural: r.plural,
            namespace: (!ns.is_empty()).then_some(ns),
            tx,
        });
        let json = [(header::CONTENT_TYPE, "application/json")];
        (StatusCode::OK, json, Body::from_stream(rx)).into_response()
    }

    fn create(&mut self, call: Call) -> Response {
        let r = call.r;
        let mut object = call.body;
        match r.namespaced {
            true => object["metadata"]["namespace"] = json!(call.ns),
            false => {
                if let Some(m) = object["metadata"].as_object_mut() {
                    m.remove("namespace");
                }
            }
        }
        let (ns, name) = key_of(&object);
        if self
            .objects
            .get(r.plural)
            .is_some_and(|m| m.contains_key(&(ns.clone(), name.clone())))
        {
            return fail(
                409,
                "AlreadyExists",
                &format!("{} {name:?} already exists", r.plural),
            );
        }
        object["metadata"]["uid"] = json!(format!("uid-{}-{ns}-{name}", r.plural));
        object["metadata"]["creationTimestamp"] = json!("2025-06-02T10:00:00Z");
        reply(201, &self.put(r, object, "ADDED"))
    }

    /// A replace: only from the version it read (optimistic concurrency).
    fn replace(&mut self, call: Call) -> Response {
        let Some(current) = self.get(&call) else {
            return call.not_found();
        };
        if call.body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"] {
            return fail(
                409,
                "Conflict",
                "the object has been modified; please apply your changes to the latest version and try again",
            );
        }
        reply(200, &self.put(call.r, call.body, "MODIFIED"))
    }

    /// A server-side apply. One manager owning every field it applies and applying whole
    /// objects (as bulwark's writer does), the result is the applied object plus what the
    /// server sets.
    fn apply(&mut self, call: Call) -> Response {
        let Some(manager) = call.query.get("fieldManager").filter(|m| !m.is_empty()) else {
            return fail(
                422,
                "Invalid",
                "fieldManager is required for apply requests",
            );
        };
        let r = call.r;
        let uid = self.get(&call).map(|e| e["metadata"]["uid"].clone());
        let (code, event) = if uid.is_some() {
            (200, "MODIFIED")
        } else {
            (201, "ADDED")
        };
        let mut object = call.body;
        let m = &mut object["metadata"];
        m["name"] = json!(call.name);
        if r.namespaced {
            m["namespace"] = json!(call.ns);
        }
        m["uid"] =
            uid.unwrap_or_else(|| json!(format!("uid-{}-{}-{}", r.plural, call.ns, call.name)));
        m["managedFields"] = json!([{"manager": manager, "operation": "Apply",
            "apiVersion": r.api_version(), "fieldsType": "FieldsV1"}]);
        reply(code, &self.put(r, object, event))
    }

    fn delete(&mut self, call: Call) -> Response {
        let removed = self
            .objects
            .get_mut(call.r.plural)
            .and_then(|m| m.remove(&call.key()));
        let Some(object) = removed else {
            return call.not_found();
        };
        self.rv += 1;
        self.emit(call.r, "DELETED", &call.ns, &object);
        reply(
            200,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Success"}),
        )
    }
}

/// The stand-in, running until dropped.
pub struct ApiServer {
    addr: SocketAddr,
    state: Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Holds the kubeconfig files.
    dir: tempfile::TempDir,
}

impl ApiServer {
    /// Serves the recorded cluster in `fixtures` (`<plural>.json`, each a list response);
    /// a resource without a file has no objects.
    pub fn start(fixtures: &Path) -> ApiServer {
        let mut state = State {
            objects: BTreeMap::new(),
            rv: 0,
            events: BTreeMap::new(),
            watches: Vec::new(),
            log: Vec::new(),
            page_cap: 2,
        };
        for r in &RESOURCES {
            let file = fixtures.join(format!("{}.json", r.plural));
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let list: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            state.rv = state.rv.max(rv_of(&list));
            for mut item in list["items"].as_array().cloned().unwrap_or_default() {
                // Held as full objects; a list response leaves these out again.
                item["kind"] = json!(r.kind);
                item["apiVersion"] = json!(r.api_version());
                state.rv = state.rv.max(rv_of(&item));
                state
                    .objects
                    .entry(r.plural)
                    .or_default()
                    .insert(key_of(&item), item);
            }
        }
        let state = Arc::new(Mutex::new(state));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(state.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("stand-in runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind the stand-in");
                let _ = addr_tx.send(listener.local_addr().expect("stand-in address"));
                // Dropping the runtime afterwards closes every connection, open watches too.
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the stand-in listens");
        ApiServer {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The recorded cluster of `tests/fixtures/cluster`.
    pub fn recorded() -> ApiServer {
        ApiServer::start(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster"))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// A kubeconfig with a context `stand-in` for this server and one, `closed`, for a
    /// loopback port nothing listens on; `current` is its current context.
    pub fn kubeconfig(&self, current: &str) -> PathBuf {
        let closed = closed_port();
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {current}\nclusters:\n\
             - name: stand-in\n  cluster: {{server: 'http://{addr}'}}\n\
             - name: closed\n  cluster: {{server: 'http://127.0.0.1:{closed}'}}\n\
             users:\n- name: tester\n  user: {{token: {TOKEN}}}\ncontexts:\n\
             - name: stand-in\n  context: {{cluster: stand-in, user: tester}}\n\
             - name: closed\n  context: {{cluster: closed, user: tester}}\n",
            addr = self.addr,
        );
        let file = self.dir.path().join(format!("kubeconfig-{current}"));
        std::fs::write(&file, text).expect("write the kubeconfig");
        file
    }

    /// Every request so far with `method` whose path starts with `prefix`.
    pub fn requests(&self, method: &Method, prefix: &str) -> Vec<Logged> {
        self.state()
            .log
            .iter()
            .filter(|l| l.method == *method && l.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The object at (`plural`, `namespace`, `name`), as stored now.
    pub fn object(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let r = Resource::of_plural(plural);
        self.state()
            .objects
            .get(r.plural)
            .and_then(|m| m.get(&(namespace.to_owned(), name.to_owned())))
            .cloned()
    }

    /// Creates or replaces `object` as another client would: stored, and sent to the
    /// watches of its resource.
    pub fn apply(&self, plural: &str, mut object: Value) {
        let r = Resource::of_plural(plural);
        object["kind"] = json!(r.kind);
        object["apiVersion"] = json!(r.api_version());
        let mut st = self.state();
        let exists = st
            .objects
            .get(r.plural)
            .is_some_and(|m| m.contains_key(&key_of(&object)));
        st.put(r, object, if exists { "MODIFIED" } else { "ADDED" });
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `cond` every 50 ms until it returns `Some`; panics naming `what` after `limit`.
pub fn eventually<T>(what: &str, limit: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
