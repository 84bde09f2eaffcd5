//! TLS for eventlog's outgoing connections: PostgreSQL (sqlx), webhooks and the library's
//! `HttpSink` (reqwest). Both sit on rustls: sqlx picks aws-lc-rs, reqwest takes the
//! process default and falls back to ring, so with [`install_default_provider`] called
//! first both use aws-lc-rs.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::StoreError;

/// Makes aws-lc-rs (sqlx's choice) the process's rustls provider unless one is set. With
/// two providers compiled in (sqlx's aws-lc-rs, reqwest's ring), rustls has no default,
/// and whatever asks for it (sqlx's `sslmode=verify-ca`, `rustls::ClientConfig::builder()`)
/// panics. The stores and the HTTP sink call it before their first connection.
pub fn install_default_provider() {
    // An error only means that the process chose a provider already; that one stays.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The certificates of the PEM file `path` (one or more `BEGIN CERTIFICATE` blocks), to
/// trust beside the public roots: a private CA.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let bad = |why: String| StoreError::Config(format!("CA file {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM certificate file ({e})")))?;
    if certificates.is_empty() {
        return Err(bad(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    }
    Ok(certificates)
}

/// An error of an outgoing connection with its causes, each said once: "error sending
/// request: connection refused" and "invalid peer certificate: UnknownIssuer" are a
/// cause's text, not the error's. Give it the error without its URL (which may hold a
/// password or a webhook's secret path).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = read_ca_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("ca.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = read_ca_file(&dir.path().join("missing.pem"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.pem"), "{e}");
    }
}
