//! A throwaway CA and a server certificate for `localhost` and the region's endpoint names,
//! so clients verify TLS for real.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Makes a CA (written as PEM to `ca_path`) and a server config signed by it for
/// `localhost`, `127.0.0.1`, `::1` and, as AWS's certificate does, every endpoint name in
/// `region` (`*.ec2-instance-connect-endpoint.REGION.amazonaws.com` and `….api.aws`: a
/// client whose proxy resolves those names reaches the emulator under them).
pub fn server_config(ca_path: &Path, region: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let err = |e: rcgen::Error| format!("cannot make test certificates: {e}");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "eic-ssh emulator CA (tests only)");
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(err)?).map_err(err)?;
    std::fs::write(ca_path, ca.pem())
        .map_err(|e| format!("cannot write {}: {e}", ca_path.display()))?;

    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".into(),
        "::1".into(),
        format!("*.ec2-instance-connect-endpoint.{region}.amazonaws.com"),
        format!("*.ec2-instance-connect-endpoint.{region}.api.aws"),
    ];
    let mut params = CertificateParams::new(names).map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, &ca).map_err(err)?;

    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("bad test certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
