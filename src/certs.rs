//! Certificates: a CA and an ECDSA P-256 serving certificate made with rcgen, for
//! `bulwark certs generate` (clusters without cert-manager) and for the development TLS that
//! `bulwark serve` makes on a first run without `--cert`/`--key`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use time::{Date, OffsetDateTime};

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
    /// The requested validity is not a usable number of days.
    #[error(
        "a certificate valid for {0} days is impossible: it must be at least 1 day and end by the year 9999"
    )]
    Validity(i64),
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
    generate_on(crate::clock::today(), ca_name, names, days)
}

/// The validity window of certificates made on `today` for `days` days: from midnight UTC of
/// the day before (a day of slack for clients whose clock is behind ours) to midnight UTC
/// `days` days after today.
fn validity(today: Date, days: i64) -> Result<(OffsetDateTime, OffsetDateTime), CertError> {
    let invalid = || CertError::Validity(days);
    if days < 1 {
        return Err(invalid());
    }
    // Through the Julian day number: `time::Duration::days` would panic on a huge `days`.
    let end = i64::from(today.to_julian_day())
        .checked_add(days)
        .and_then(|jd| i32::try_from(jd).ok())
        .and_then(|jd| Date::from_julian_day(jd).ok())
        .ok_or_else(invalid)?;
    let start = today.previous_day().ok_or_else(invalid)?;
    Ok((start.midnight().assume_utc(), end.midnight().assume_utc()))
}

/// [`generate`] with today's date given, so tests can pin the validity dates.
fn generate_on(
    today: Date,
    ca_name: &str,
    names: &[String],
    days: i64,
) -> Result<Bundle, CertError> {
    let (not_before, not_after) = validity(today, days)?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
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
    params.not_before = not_before;
    params.not_after = not_after;
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

#[cfg(test)]
mod tests {
    use super::*;

    use time::macros::{date, datetime};

    fn der(pem: &str) -> rustls_pki_types::CertificateDer<'static> {
        rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes()).expect("pem")
    }

    /// (notBefore, notAfter) of a PEM certificate.
    fn validity_of(pem: &str) -> (OffsetDateTime, OffsetDateTime) {
        let der = der(pem);
        let (_, x) = x509_parser::parse_x509_certificate(&der).expect("x509");
        let v = x.validity();
        (v.not_before.to_datetime(), v.not_after.to_datetime())
    }

    #[test]
    fn validity_starts_the_day_before_and_lasts_the_days_asked() {
        let b = generate_on(date!(2026 - 12 - 31), "test CA", &["a".into()], 1).expect("certs");
        let expected = (
            datetime!(2026-12-30 00:00 UTC),
            datetime!(2027-01-01 00:00 UTC),
        );
        assert_eq!(validity_of(&b.ca_pem), expected, "CA");
        assert_eq!(validity_of(&b.cert_pem), expected, "serving certificate");
        // Across a leap day and a year start.
        assert_eq!(
            validity(date!(2028 - 01 - 01), 365).expect("validity"),
            (
                datetime!(2027-12-31 00:00 UTC),
                datetime!(2028-12-31 00:00 UTC)
            )
        );
    }

    #[test]
    fn impossible_validities_are_errors_not_panics() {
        for days in [0, -1, 3_000_000, i64::MAX] {
            let e = generate_on(date!(2026 - 01 - 31), "CA", &["a".into()], days)
                .err()
                .unwrap_or_else(|| panic!("{days} days accepted"));
            assert!(matches!(e, CertError::Validity(d) if d == days), "{e}");
            assert!(e.to_string().contains(&format!("{days} days")), "{e}");
        }
    }

    #[test]
    fn generates_p256_chain_with_service_sans() {
        let b = generate("test CA", &service_names("bulwark", "ns"), 30).expect("generates");
        assert!(b.ca_pem.contains("BEGIN CERTIFICATE"));
        assert!(b.key_pem.contains("PRIVATE KEY"));
        let der = der(&b.cert_pem);
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
