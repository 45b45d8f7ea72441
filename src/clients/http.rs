//! What every HTTP client of kfcheck does the same way, told once: credentials that never show
//! ([`Secret`]), TLS with the system's trust store or, on request, without verification
//! ([`tls_config`], [`native_roots`]), bounded retries ([`Backoff`] and which answers are
//! [`Transient`]) and bodies read up to a limit ([`BodyCap`]). The KFP client (reqwest) and the
//! GCS client (hyper) build on it, and so is the coming Jupyter client meant to; each keeps its
//! own transport, its own error type and its own parameters (two constructors where they differ).
//! Error chains are told by [`super::errors`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A credential: shown as `<redacted>` everywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The system's trust store (SSL_CERT_FILE / SSL_CERT_DIR honoured): the certificates that
/// parsed, and what loading found on the way.
pub struct NativeRoots {
    pub store: rustls::RootCertStore,
    /// Certificates found, whether they parsed or not.
    pub found: usize,
    /// Why some places could not be read.
    pub errors: Vec<rustls_native_certs::Error>,
}

impl NativeRoots {
    /// The store, or why there is none to verify with (no certificate found, or none parsed).
    pub fn require_some(self) -> Result<rustls::RootCertStore, String> {
        if self.found == 0 {
            return Err(format!(
                "no native root CA certificates found (errors: {:?})",
                self.errors
            ));
        }
        if self.store.is_empty() {
            return Err(format!(
                "no valid native root CA certificates found ({} invalid)",
                self.found
            ));
        }
        Ok(self.store)
    }
}

/// Loads the system's trust store; unreadable entries and certificates that do not parse are
/// skipped.
pub fn native_roots() -> NativeRoots {
    let loaded = rustls_native_certs::load_native_certs();
    let found = loaded.certs.len();
    let mut store = rustls::RootCertStore::empty();
    for cert in loaded.certs {
        let _ = store.add(cert);
    }
    NativeRoots {
        store,
        found,
        errors: loaded.errors,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS (1.2 and 1.3, ring) that verifies servers against `roots`.
pub fn verifying_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, String> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// TLS against the system's trust store, or (`insecure`, `--insecure-skip-tls-verify`)
/// accepting any certificate. A server signed by none of the roots fails the handshake with a
/// clear message.
pub fn tls_config(insecure: bool) -> Result<rustls::ClientConfig, String> {
    if insecure {
        let provider = provider();
        return Ok(
            rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
                .with_no_client_auth(),
        );
    }
    verifying_config(native_roots().store)
}

/// `--insecure-skip-tls-verify`: accepts any certificate (signatures are still checked).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The pause before another try: doubling from `first` up to `max`, with up to 25% jitter from
/// the clock when `jitter` (many clients retrying one server do not retry in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub jitter: bool,
}

impl Backoff {
    /// KFP's: 0.25s, 0.5s, 1s, 2s, then 4s, without jitter.
    pub const fn kfp() -> Backoff {
        Backoff {
            first: Duration::from_millis(250),
            max: Duration::from_secs(4),
            jitter: false,
        }
    }

    /// GCS's: doubling from `first` up to `max`, with jitter.
    pub const fn jittered(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            jitter: true,
        }
    }

    /// The pause before retry `n` (1-based: the pause after the first failure is `delay(1)`).
    pub fn delay(&self, n: u32) -> Duration {
        let base = self
            .first
            .saturating_mul(1u32 << (n.saturating_sub(1)).min(16))
            .min(self.max);
        if !self.jitter {
            return base;
        }
        let jitter = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            % 250;
        base + base * jitter / 1000
    }
}

/// Which HTTP statuses are worth another try of a request that is safe to repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    /// Throttled (429), or a gateway or server briefly unavailable (500, 502, 503, 504): the KFP
    /// API behind the dashboard's gateway.
    Gateway,
    /// 408, 429 and every 5xx, as Google's JSON APIs document it.
    Google,
}

impl Transient {
    pub fn status(self, status: u16) -> bool {
        match self {
            Transient::Gateway => matches!(status, 429 | 500 | 502 | 503 | 504),
            Transient::Google => status == 429 || status == 408 || (500..600).contains(&status),
        }
    }
}

/// A body read into one buffer, never past `limit` bytes: a declared length over the limit is
/// refused before a byte is read, a body that grows past it as soon as it does.
#[derive(Debug)]
pub struct BodyCap {
    buf: Vec<u8>,
    limit: u64,
}

/// The body is (or says it is) over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit;

impl BodyCap {
    pub fn new(limit: u64) -> BodyCap {
        BodyCap {
            buf: Vec::new(),
            limit,
        }
    }

    /// Refuses a declared length (`Content-Length`) over the limit; with `reserve`, room for one
    /// that is not is made at once (a forged length allocates at most the limit).
    pub fn declared(&mut self, len: u64, reserve: bool) -> Result<(), OverLimit> {
        if len > self.limit {
            return Err(OverLimit);
        }
        if reserve {
            self.buf.reserve_exact(len as usize);
        }
        Ok(())
    }

    /// Adds a chunk, unless it takes the body past the limit.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), OverLimit> {
        if (self.buf.len() + chunk.len()) as u64 > self.limit {
            return Err(OverLimit);
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let s = Secret::new("tok-very-secret");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), "tok-very-secret");
    }

    #[test]
    fn kfp_backoff_doubles_to_four_seconds_without_jitter() {
        let b = Backoff::kfp();
        let ms: Vec<u128> = (1..=7).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(ms, [250, 500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(4));
    }

    #[test]
    fn jittered_backoff_stays_within_a_quarter_above_the_base() {
        let b = Backoff::jittered(Duration::from_millis(200), Duration::from_secs(4));
        for (n, base) in [(1, 200), (2, 400), (3, 800), (6, 4000), (40, 4000)] {
            let d = b.delay(n);
            let base = Duration::from_millis(base);
            assert!(d >= base && d < base + base / 4, "{n}: {d:?}");
        }
    }

    #[test]
    fn transient_statuses_differ_by_server_kind() {
        for s in [429, 500, 502, 503, 504] {
            assert!(
                Transient::Gateway.status(s) && Transient::Google.status(s),
                "{s}"
            );
        }
        for s in [408, 501, 505, 599] {
            assert!(
                !Transient::Gateway.status(s) && Transient::Google.status(s),
                "{s}"
            );
        }
        for s in [200, 301, 400, 401, 403, 404, 409, 600] {
            assert!(
                !Transient::Gateway.status(s) && !Transient::Google.status(s),
                "{s}"
            );
        }
    }

    #[test]
    fn a_body_cap_refuses_declared_and_grown_bodies_over_the_limit() {
        let mut c = BodyCap::new(4);
        assert_eq!(c.declared(5, true), Err(OverLimit));
        assert_eq!(c.declared(1 << 40, true), Err(OverLimit));
        assert!(c.declared(4, true).is_ok());
        assert!(c.push(b"ab").is_ok() && c.push(b"cd").is_ok());
        assert_eq!(c.push(b"e"), Err(OverLimit));
        assert_eq!(c.into_inner(), b"abcd");
    }

    #[test]
    fn roots_without_certificates_are_refused_only_on_request() {
        let none = NativeRoots {
            store: rustls::RootCertStore::empty(),
            found: 0,
            errors: Vec::new(),
        };
        assert_eq!(
            none.require_some().unwrap_err(),
            "no native root CA certificates found (errors: [])"
        );
        let unparsable = NativeRoots {
            store: rustls::RootCertStore::empty(),
            found: 2,
            errors: Vec::new(),
        };
        assert_eq!(
            unparsable.require_some().unwrap_err(),
            "no valid native root CA certificates found (2 invalid)"
        );
        assert!(tls_config(true).is_ok() && tls_config(false).is_ok());
    }
}
