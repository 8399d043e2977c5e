//! TLS: loading the serving certificate and key, and reloading them from disk while serving.
//!
//! cert-manager (or a manual rotation) updates a mounted Secret by swapping a symlink, so the
//! files are polled and compared by content rather than watched with inotify (which misses
//! symlink swaps). A half-written pair (new cert, old key) fails rustls's key/cert match
//! check and is retried on the next tick while the old pair keeps serving: new handshakes
//! get the new certificate as soon as both files agree; established connections and
//! in-flight requests are untouched.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// PEM decoding failed or found nothing.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls rejected the pair (unsupported key, key does not match certificate).
    #[error("certificate/key rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider bulwark uses everywhere (ring: no C toolchain surprises).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A loaded certificate pair, the bytes it came from, and its expiry.
struct Loaded {
    key: Arc<CertifiedKey>,
    cert_bytes: Vec<u8>,
    key_bytes: Vec<u8>,
}

/// The live serving certificate, swappable while serving.
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    last: Mutex<(Vec<u8>, Vec<u8>)>,
    not_after: AtomicI64,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("cert_path", &self.cert_path)
            .field("not_after", &self.not_after())
            .finish()
    }
}

fn load(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<(Loaded, i64), TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.to_owned(),
            source,
        })
    };
    let cert_bytes = read(cert_path)?;
    let key_bytes = read(key_path)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert_path.to_owned(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: cert_path.to_owned(),
            message: "no certificate found".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| TlsError::Pem {
        path: key_path.to_owned(),
        message: e.to_string(),
    })?;
    let not_after = x509_parser::parse_x509_certificate(&chain[0])
        .map(|(_, c)| c.validity().not_after.timestamp())
        .unwrap_or(0);
    let key = Arc::new(CertifiedKey::from_der(chain, key, provider)?);
    Ok((
        Loaded {
            key,
            cert_bytes,
            key_bytes,
        },
        not_after,
    ))
}

impl CertStore {
    /// Loads the pair; fails if it cannot be used.
    pub fn open(cert_path: &Path, key_path: &Path) -> Result<Arc<CertStore>, TlsError> {
        let provider = provider();
        let (loaded, not_after) = load(cert_path, key_path, &provider)?;
        Ok(Arc::new(CertStore {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            provider,
            current: RwLock::new(loaded.key),
            last: Mutex::new((loaded.cert_bytes, loaded.key_bytes)),
            not_after: AtomicI64::new(not_after),
        }))
    }

    /// Unix time when the serving certificate expires.
    pub fn not_after(&self) -> i64 {
        self.not_after.load(Ordering::Relaxed)
    }

    /// Re-reads the files; swaps in the new pair when they changed and are valid.
    /// Returns `Ok(true)` when a new certificate was installed.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let read = |p: &Path| std::fs::read(p).unwrap_or_default();
        let (cert_now, key_now) = (read(&self.cert_path), read(&self.key_path));
        {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.0 == cert_now && last.1 == key_now {
                return Ok(false);
            }
        }
        let (loaded, not_after) = load(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded.key;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            (loaded.cert_bytes, loaded.key_bytes);
        self.not_after.store(not_after, Ordering::Relaxed);
        Ok(true)
    }

    /// Polls the files every `interval` until the process ends.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let store = self.clone();
            match tokio::task::spawn_blocking(move || store.reload()).await {
                Ok(Ok(true)) => tracing::info!(
                    cert = %self.cert_path.display(),
                    not_after = self.not_after(),
                    "serving certificate reloaded"
                ),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "certificate files changed but cannot be used yet; keeping the current certificate")
                }
                Err(e) => tracing::error!(error = %e, "certificate reload task failed"),
            }
        }
    }

    /// A rustls server configuration serving this store's certificate, TLS 1.2 and 1.3,
    /// with ALPN `h2` and `http/1.1`.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let mut cfg = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(cfg)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}
