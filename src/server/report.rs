//! `GET /report` on the health port: the auditor's results as an HTML page
//! ([`crate::audit::page`]), with headers that keep a tenant's strings inert even if
//! escaping ever missed one.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::audit::page::{self, AuditStatus, PageOptions};

/// The page's policy: no script, no request anywhere, its own inline style only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// `?namespace=NS`.
#[derive(Debug, Deserialize)]
struct ReportQuery {
    namespace: Option<String>,
}

/// The `/report` route, to merge into the health router.
pub fn routes(status: AuditStatus) -> Router {
    Router::new()
        .route("/report", get(report))
        .with_state(Arc::new(status))
}

async fn report(State(status): State<Arc<AuditStatus>>, Query(q): Query<ReportQuery>) -> Response {
    let namespace = q.namespace.filter(|ns| !ns.is_empty());
    let opts = PageOptions::new(namespace, time::OffsetDateTime::now_utc().unix_timestamp());
    // Counting a large cluster's results takes a few milliseconds: off the workers that
    // serve admission.
    let html = match tokio::task::spawn_blocking(move || page::page(&status, &opts)).await {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "rendering /report failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render the report\n",
            )
                .into_response();
        }
    };
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    (headers, html).into_response()
}
