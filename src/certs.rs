//! Certificates: a CA and an ECDSA P-256 serving certificate made with rcgen, for
//! `bulwark certs generate` (clusters without cert-manager) and for the development TLS that
//! `bulwark serve` makes on a first run without `--cert`/`--key`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

/// Why certificates could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen failed.
    #[error("cannot generate certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

/// A CA with one serving certificate, PEM-encoded.
pub struct Bundle {
    /// CA certificate (what webhook configurations trust: their `caBundle`).
    pub ca_pem: String,
    /// Serving certificate.
    pub cert_pem: String,
    /// Serving key (PKCS#8). Never committed, never logged.
    pub key_pem: String,
}

impl Bundle {
    /// The `caBundle` value for webhook configurations: base64 of the CA PEM.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes())
    }
}

/// Makes a fresh CA and a serving certificate for `names` (DNS names or IP addresses),
/// valid for `days` days from today.
pub fn generate(ca_name: &str, names: &[String], days: i64) -> Result<Bundle, CertError> {
    let today = crate::engine::exemptions::today();
    let (y0, m0, d0) = civil_from_days(today - 1); // a day of slack for clock skew
    let (y1, m1, d1) = civil_from_days(today + days);

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.not_before = rcgen::date_time_ymd(y0, m0, d0);
    ca_params.not_after = rcgen::date_time_ymd(y1, m1, d1);
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().map(String::as_str).unwrap_or("bulwark"),
    );
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(y0, m0, d0);
    params.not_after = rcgen::date_time_ymd(y1, m1, d1);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let cert = params.signed_by(&key, &ca)?;
    Ok(Bundle {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The SANs a webhook Service needs: `NAME.NS.svc` and `NAME.NS.svc.cluster.local`.
pub fn service_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
        format!("{service}.{namespace}"),
    ]
}

/// Writes `ca.crt`, `tls.crt`, `tls.key` (mode 0600) and `caBundle` into `dir`.
pub fn write(bundle: &Bundle, dir: &Path) -> Result<(), CertError> {
    let io = |path: PathBuf| move |source| CertError::Write { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_owned()))?;
    for (name, text) in [
        ("ca.crt", bundle.ca_pem.clone()),
        ("tls.crt", bundle.cert_pem.clone()),
        ("caBundle", bundle.ca_bundle() + "\n"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io(path.clone()))?;
    }
    let key = dir.join("tls.key");
    write_private(&key, bundle.key_pem.as_bytes()).map_err(io(key.clone()))?;
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

/// Development TLS for a first `bulwark serve`: reuses `dir`'s files when present, else
/// makes a CA and a localhost certificate there. Returns (cert path, key path, CA path).
pub fn dev(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), CertError> {
    let (cert, key, ca) = (dir.join("tls.crt"), dir.join("tls.key"), dir.join("ca.crt"));
    if !(cert.exists() && key.exists() && ca.exists()) {
        let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        let bundle = generate("bulwark development CA", &names, 365)?;
        write(&bundle, dir)?;
    }
    Ok((cert, key, ca))
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        let d = crate::engine::exemptions::parse_date("2026-11-23").expect("date");
        assert_eq!(civil_from_days(d), (2026, 11, 23));
        assert_eq!(civil_from_days(d + 38), (2026, 12, 31));
        assert_eq!(civil_from_days(d + 39), (2027, 1, 1));
    }

    #[test]
    fn generates_p256_chain_with_service_sans() {
        let b = generate("test CA", &service_names("bulwark", "ns"), 30).expect("generates");
        assert!(b.ca_pem.contains("BEGIN CERTIFICATE"));
        assert!(b.key_pem.contains("PRIVATE KEY"));
        let der = rustls_pki_types::pem::PemObject::from_pem_slice(b.cert_pem.as_bytes());
        let der: rustls_pki_types::CertificateDer = der.expect("pem");
        let (_, x) = x509_parser::parse_x509_certificate(&der).expect("x509");
        let sans: Vec<String> = x
            .subject_alternative_name()
            .expect("ext")
            .expect("san")
            .value
            .general_names
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert!(
            sans.iter()
                .any(|s| s.contains("bulwark.ns.svc.cluster.local")),
            "{sans:?}"
        );
        assert!(sans.iter().any(|s| s.contains("bulwark.ns.svc")));
    }
}
