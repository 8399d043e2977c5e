//! `bulwark serve`, `bulwark check --cluster` and `bulwark certs generate`: flag parsing glue
//! around the server and the cluster check (binary only).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bulwark::health::{Metrics, Readiness};
use bulwark::policy_source::{PolicyHandle, PolicySource, Reloader};
use bulwark::server::{self, Options, ServeConfig, tls::CertStore};

/// Flags of `bulwark serve`. Tunables default to [`Options::default`], so the library and
/// the command line cannot disagree.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Serving certificate (PEM). Without --cert/--key a development CA and certificate
    /// are made in --dev-cert-dir.
    #[arg(long, env = "BULWARK_CERT", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Serving key (PEM).
    #[arg(long, env = "BULWARK_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Where development certificates are written when --cert/--key are not given.
    #[arg(long, default_value = "dev-certs")]
    pub dev_cert_dir: PathBuf,
    /// Webhook (HTTPS) listen address.
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Health and metrics (plain HTTP) listen address.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub health_listen: SocketAddr,
    /// Run without any connection to a cluster (cluster-aware rules have no data).
    #[arg(long)]
    pub no_cluster: bool,
    /// Do not audit existing objects into PolicyReports (the policy's `audit.enabled`
    /// turns it off too). The auditor needs a cluster.
    #[arg(long)]
    pub no_audit: bool,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = Options::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Most concurrent connections.
    #[arg(long, default_value_t = Options::default().max_connections)]
    pub max_connections: usize,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, default_value_t = Options::default().shutdown_timeout.as_secs())]
    pub shutdown_timeout: u64,
    /// Seconds to keep answering after SIGTERM, each answer with `Connection: close`, so
    /// clients holding keep-alive connections move on without losing a request.
    #[arg(long, default_value_t = Options::default().drain.as_secs())]
    pub drain_seconds: u64,
    /// Seconds between checks of the certificate files for rotation.
    #[arg(long, default_value_t = Options::default().cert_reload_interval.as_secs())]
    pub cert_reload_interval: u64,
    /// Seconds between checks of the --config file for a new version (a ConfigMap update);
    /// 0 turns reloading off.
    #[arg(long, default_value_t = Options::default().policy_reload_interval.as_secs())]
    pub policy_reload_interval: u64,
    /// bulwark's own namespace (always exempt).
    #[arg(long, env = "POD_NAMESPACE", default_value = "bulwark-system")]
    pub namespace: String,
    /// A namespace the webhook configurations exclude by name (repeatable), such as
    /// cert-manager's: bulwark treats it as exempt too, and lets only exemption admins create
    /// it, so a tenant cannot claim the name before its real owner is installed.
    #[arg(long = "exempt-namespace", value_name = "NAMESPACE")]
    pub exempt_namespaces: Vec<String>,
}

/// Flags of `bulwark check` that read the cluster instead of files.
#[derive(clap::Args)]
pub struct ClusterArgs {
    /// Check what runs in the cluster (read through the kubeconfig, as kubectl reads it),
    /// judged as the auditor judges it: namespace modes, opt-in and exemptions apply.
    #[arg(long)]
    pub cluster: bool,
    /// Only this namespace (with --cluster).
    #[arg(long, short = 'n', requires = "cluster")]
    pub namespace: Option<String>,
    /// Kubeconfig file (with --cluster); by default KUBECONFIG, ~/.kube/config, then the
    /// in-cluster service account.
    #[arg(long, requires = "cluster")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (with --cluster); by default the current one.
    #[arg(long, requires = "cluster")]
    pub context: Option<String>,
    /// bulwark's own namespace (with --cluster): never judged; its BulwarkExceptions
    /// cover other namespaces.
    #[arg(long, default_value = "bulwark-system")]
    pub bulwark_namespace: String,
}

/// Runs `bulwark check --cluster`: one read of the cluster, judged with `policy`.
pub fn check_cluster(
    args: ClusterArgs,
    policy: &bulwark::config::Policy,
) -> anyhow::Result<bulwark::offline::CheckResult> {
    let target = bulwark::offline::cluster::Target {
        kubeconfig: args.kubeconfig,
        context: args.context,
        namespace: args.namespace,
        own_namespace: args.bulwark_namespace,
    };
    let today = bulwark::engine::exemptions::days_since_epoch(bulwark::clock::today());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(bulwark::offline::cluster::check(&target, policy, today))?)
}

/// Log output format.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags of `bulwark certs generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Service name of the webhook.
    #[arg(long, default_value = "bulwark")]
    pub service: String,
    /// Namespace of the webhook service.
    #[arg(long, default_value = "bulwark-system")]
    pub namespace: String,
    /// Output directory (ca.crt, tls.crt, tls.key, caBundle).
    #[arg(long, default_value = "certs/out")]
    pub out: PathBuf,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    pub days: i64,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BULWARK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs `bulwark serve` until SIGTERM, serving `source`'s policy and reloading it when the
/// file changes.
pub fn serve(args: ServeArgs, mut source: PolicySource) -> anyhow::Result<u8> {
    init_logging(args.log_format);
    source
        .overrides
        .exempt_namespaces
        .extend(args.exempt_namespaces);
    let loaded = source.load()?;
    let policy = Arc::new(PolicyHandle::new(loaded.policy));
    let policy_reload = Reloader::new(source, loaded.fingerprint);
    let (cert, key) = match (args.cert, args.key) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let (cert, key, ca) = bulwark::certs::dev(&args.dev_cert_dir)?;
            tracing::warn!(
                ca = %ca.display(),
                "no --cert/--key: serving a development certificate for localhost; trust it with `curl --cacert {}`",
                ca.display()
            );
            (cert, key)
        }
    };
    let certs = CertStore::open(&cert, &key)?;
    let options = Options {
        max_body_bytes: args.max_body_bytes,
        max_connections: args.max_connections,
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        drain: Duration::from_secs(args.drain_seconds),
        cert_reload_interval: Duration::from_secs(args.cert_reload_interval.max(1)),
        policy_reload_interval: Duration::from_secs(args.policy_reload_interval),
        own_namespace: args.namespace,
        ..Options::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let readiness = Arc::new(Readiness::default());
        let mut metrics = Metrics::default();
        let audit_metrics = bulwark::audit::AuditMetrics::register(metrics.registry_mut());
        let metrics = Arc::new(metrics);
        // One signal, two listeners: the server drains while the auditor releases its Lease.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            server::shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let audit = !args.no_audit && policy.current().audit.enabled;
        // A policy reload wakes the auditor, which then judges everything again.
        let policy_rx = policy.subscribe();
        let audit_state = Arc::new(bulwark::audit::AuditState::default());
        use bulwark::audit::page::AuditStatus;
        let (cluster, auditor, report): (Option<Arc<dyn bulwark::admission::Cluster>>, _, _) =
            if args.no_cluster {
                tracing::info!(
                    "--no-cluster: running without cluster data; cluster-aware rules never deny"
                );
                readiness
                    .cluster
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                (None, None, AuditStatus::NoCluster)
            } else {
                match bulwark::cluster::connect_kube(readiness.clone(), metrics.clone()).await {
                    Some((client, kube)) if audit => {
                        let options = bulwark::audit::AuditOptions::new(
                            &policy.current(),
                            &options.own_namespace,
                        );
                        let auditor = bulwark::audit::spawn(
                            client,
                            &kube,
                            policy_rx,
                            audit_state.clone(),
                            audit_metrics,
                            metrics.clone(),
                            options,
                            stopped(stop_rx.clone()),
                        );
                        let report = AuditStatus::Running(audit_state.clone());
                        (Some(kube as _), Some(auditor), report)
                    }
                    Some((_, kube)) => {
                        tracing::info!(
                            "audit of existing objects off (--no-audit or audit.enabled: false)"
                        );
                        (Some(kube as _), None, AuditStatus::Disabled)
                    }
                    None => {
                        tracing::info!("no cluster: audit of existing objects off");
                        (None, None, AuditStatus::NoCluster)
                    }
                }
            };
        let served = server::run(
            ServeConfig {
                listen: args.listen,
                health_listen: args.health_listen,
                certs,
                policy,
                policy_reload,
                cluster,
                readiness,
                metrics,
                options,
                audit: report,
            },
            stopped(stop_rx),
        )
        .await;
        // The Lease is released within the renew deadline (10 s); never hold exit longer.
        if let Some(auditor) = auditor {
            let _ = tokio::time::timeout(Duration::from_secs(10), auditor).await;
        }
        drop(audit_state);
        served
    })?;
    Ok(0)
}

/// Runs `bulwark certs generate`.
pub fn generate(args: GenerateArgs) -> anyhow::Result<u8> {
    let names = bulwark::certs::service_names(&args.service, &args.namespace);
    let bundle =
        bulwark::certs::generate(&format!("{} webhook CA", args.service), &names, args.days)?;
    bulwark::certs::write(&bundle, &args.out)?;
    println!(
        "wrote {dir}/ca.crt, {dir}/tls.crt, {dir}/tls.key (keep it secret) and {dir}/caBundle for {}",
        names.join(", "),
        dir = args.out.display()
    );
    println!(
        "next: kubectl -n {ns} create secret tls bulwark-tls --cert {dir}/tls.crt --key {dir}/tls.key",
        ns = args.namespace,
        dir = args.out.display()
    );
    Ok(0)
}
