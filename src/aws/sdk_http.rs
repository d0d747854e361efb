//! The AWS SDK's credential providers (SSO, STS, IMDS) send their requests through our one
//! HTTP client (`net::http`): no second HTTP stack, TLS configuration or set of trust roots
//! is built or linked, and `AWS_CA_BUNDLE` and the proxy variables apply to them as to
//! everything else.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use crate::net::http::{CallError, Client};
use crate::net::{MAX_API_BODY, timeouts};

/// Our client, as the SDK's `HttpClient`.
#[derive(Clone)]
pub struct SdkHttp(pub Client);

impl std::fmt::Debug for SdkHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SdkHttp")
    }
}

impl HttpClient for SdkHttp {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // Our client times a whole request; the SDK's two timeouts bound it together, and
        // the API call's limit bounds it when the SDK sets none.
        let timeout = match (settings.connect_timeout(), settings.read_timeout()) {
            (Some(c), Some(r)) => c + r,
            (c, r) => c.or(r).unwrap_or(timeouts::API_CALL),
        };
        SharedHttpConnector::new(Connector {
            client: self.0.clone(),
            timeout,
        })
    }
}

struct Connector {
    client: Client,
    timeout: std::time::Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector")
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let timeout = self.timeout;
        HttpConnectorFuture::new(async move {
            let method = http::Method::from_bytes(request.method().as_bytes())
                .map_err(|e| ConnectorError::user(e.into()))?;
            let headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            // The credential providers send small in-memory bodies, never streams.
            let body = request
                .body()
                .bytes()
                .map(bytes::Bytes::copy_from_slice)
                .unwrap_or_default();
            // An endless answer from a credential endpoint stops at the API limit.
            let answer = client
                .send(method, request.uri(), &headers, body, MAX_API_BODY, timeout)
                .await
                .map_err(|e| match e {
                    CallError::Timeout(_) => ConnectorError::timeout(e.into()),
                    CallError::Connect(_) | CallError::Http(_) => ConnectorError::io(e.into()),
                    other => ConnectorError::other(other.into(), None),
                })?;
            let status = StatusCode::try_from(answer.status)
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let mut out = HttpResponse::new(status, SdkBody::from(answer.body));
            for (name, value) in &answer.headers {
                if let Ok(value) = value.to_str() {
                    out.headers_mut()
                        .append(name.as_str().to_string(), value.to_string());
                }
            }
            Ok(out)
        })
    }
}
