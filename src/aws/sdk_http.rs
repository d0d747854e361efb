//! The AWS SDK's credential providers (SSO, STS, IMDS) send their requests through our one
//! HTTP client: no second HTTP stack, TLS configuration or set of trust roots is built or
//! linked, and `AWS_CA_BUNDLE` and the proxy variables apply to them as to everything else.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// Our reqwest client, as the SDK's `HttpClient`.
#[derive(Debug, Clone)]
pub struct SdkHttp(pub reqwest::Client);

impl HttpClient for SdkHttp {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // reqwest times a whole request; the SDK's two timeouts bound it together.
        let timeout = match (settings.connect_timeout(), settings.read_timeout()) {
            (Some(c), Some(r)) => Some(c + r),
            (c, r) => c.or(r),
        };
        SharedHttpConnector::new(Connector {
            client: self.0.clone(),
            timeout,
        })
    }
}

#[derive(Debug)]
struct Connector {
    client: reqwest::Client,
    timeout: Option<std::time::Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let timeout = self.timeout;
        HttpConnectorFuture::new(async move {
            let failed = |e: reqwest::Error| {
                if e.is_timeout() {
                    ConnectorError::timeout(e.into())
                } else {
                    ConnectorError::io(e.into())
                }
            };
            let method = reqwest::Method::from_bytes(request.method().as_bytes())
                .map_err(|e| ConnectorError::user(e.into()))?;
            let mut builder = client.request(method, request.uri());
            for (name, value) in request.headers() {
                builder = builder.header(name, value);
            }
            if let Some(t) = timeout {
                builder = builder.timeout(t);
            }
            // The credential providers send small in-memory bodies, never streams.
            let body = request
                .body()
                .bytes()
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            let response = builder.body(body).send().await.map_err(failed)?;
            let status = StatusCode::try_from(response.status().as_u16())
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let headers = response.headers().clone();
            // An endless answer from a credential endpoint stops at the API limit.
            let bytes = crate::net::read_body(response, crate::net::MAX_API_BODY)
                .await
                .map_err(|e| match e {
                    crate::net::BodyError::Network(e) => failed(e),
                    too_large => ConnectorError::other(too_large.into(), None),
                })?;
            let mut out = HttpResponse::new(status, SdkBody::from(bytes));
            for (name, value) in &headers {
                if let Ok(value) = value.to_str() {
                    out.headers_mut()
                        .append(name.as_str().to_string(), value.to_string());
                }
            }
            Ok(out)
        })
    }
}
