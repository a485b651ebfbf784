//! The gRPC channel to the remote storage server: address, timeouts and TLS.
//!
//! Certificate files are read and parsed here, at connect time, so a bad file stops startup with
//! a message naming it instead of failing every call later. The channel itself connects lazily
//! (and reconnects by itself), so a server that is down at startup is not an error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use super::{GrpcStoreOptions, GrpcTlsOptions};
use crate::storage::StorageError;

/// HTTP/2 pings keep idle connections alive through proxies and detect dead peers.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

fn config_error(msg: impl Into<String>) -> StorageError {
    StorageError::Config(msg.into())
}

/// The endpoint for `opts.server` (`host:port`), with TLS when configured.
pub(super) fn endpoint(opts: &GrpcStoreOptions) -> Result<Endpoint, StorageError> {
    let server = opts.server.trim();
    let port_ok = server
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if server.contains("://") || !port_ok {
        return Err(config_error(format!(
            "remote storage server {server:?} must be host:port"
        )));
    }
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    let endpoint = Endpoint::from_shared(format!("{scheme}://{server}"))
        .map_err(|e| config_error(format!("remote storage server {server:?}: {e}")))?
        .connect_timeout(opts.connection_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT);
    match &opts.tls {
        None => Ok(endpoint),
        Some(tls) => with_tls(endpoint, tls, opts.connection_timeout),
    }
}

fn with_tls(
    endpoint: Endpoint,
    tls: &GrpcTlsOptions,
    handshake_timeout: Duration,
) -> Result<Endpoint, StorageError> {
    let mut config = ClientTlsConfig::new().timeout(handshake_timeout);
    if let Some(name) = &tls.server_name {
        config = config.domain_name(name.clone());
    }
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let cert_pem = read_certificates(cert)?;
            let key_pem = read(key)?;
            PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                config_error(format!("tls key {}: no private key: {e}", key.display()))
            })?;
            config = config.identity(Identity::from_pem(cert_pem, key_pem));
        }
        (None, None) => {}
        _ => {
            return Err(config_error(
                "tls cert and tls key must be given together (client certificate)",
            ))
        }
    }
    let tls_error = |e: tonic::transport::Error| config_error(format!("tls: {e}"));
    if tls.skip_host_verify {
        // The CA is not needed: no certificate is verified.
        endpoint
            .tls_config_with_verifier(config, Arc::new(AcceptAnyServerCert::new()))
            .map_err(tls_error)
    } else {
        match &tls.ca {
            Some(ca) => {
                let ca = Certificate::from_pem(read_certificates(ca)?);
                endpoint
                    .tls_config(config.ca_certificate(ca))
                    .map_err(tls_error)
            }
            None => endpoint
                .tls_config(config.with_native_roots())
                .map_err(|e| {
                    config_error(format!(
                        "tls: {e} (no tls ca given: the system's root certificates are used)"
                    ))
                }),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, StorageError> {
    std::fs::read(path).map_err(|source| StorageError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// A PEM file with at least one certificate (tonic would silently skip anything else).
fn read_certificates(path: &Path) -> Result<Vec<u8>, StorageError> {
    let pem = read(path)?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        cert.map_err(|e| config_error(format!("tls certificate {}: {e}", path.display())))?;
        count += 1;
    }
    if count == 0 {
        return Err(config_error(format!(
            "tls certificate {}: no PEM certificate in the file",
            path.display()
        )));
    }
    Ok(pem)
}

/// `skip_host_verify`: accepts any server certificate (the connection is still encrypted, but
/// not authenticated). Handshake signatures are still checked, so the server must hold the key
/// of the certificate it presents.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AcceptAnyServerCert {
    fn new() -> Self {
        AcceptAnyServerCert {
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
