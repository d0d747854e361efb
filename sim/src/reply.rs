//! What every API handler answers with: the reply type, plain, JSON 1.1 and Query replies
//! (with the errors as those services write them), request ids, XML escaping, and the
//! client's address a request came from.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

/// Response type of every handler.
pub type Reply = Response<Full<Bytes>>;

/// The client's address, carried to the API handlers for their events.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// The `peer` of a request's events: the address its connection came from.
pub fn peer_of(parts: &http::request::Parts) -> String {
    parts
        .extensions
        .get::<Peer>()
        .map(|p| p.0.to_string())
        .unwrap_or_default()
}

/// A plain-text reply.
pub fn text(status: StatusCode, body: &str) -> Reply {
    reply(status, "text/plain", body.as_bytes().to_vec())
}

/// A reply with a content type.
pub fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", request_id())
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}

/// A JSON 1.1 API's answer: the value, or the error as those services write it (`__type`
/// of `namespace#Code`, and the code in `x-amzn-errortype`).
pub fn json11_reply(
    outcome: Result<serde_json::Value, crate::auth::Denial>,
    namespace: &str,
) -> Reply {
    const JSON11: &str = "application/x-amz-json-1.1";
    match outcome {
        Ok(v) => reply(StatusCode::OK, JSON11, v.to_string().into_bytes()),
        Err(d) => {
            let body = serde_json::json!({"__type": format!("{namespace}#{}", d.code), "Message": d.message});
            let mut r = reply(
                StatusCode::from_u16(d.status).unwrap_or(StatusCode::BAD_REQUEST),
                JSON11,
                body.to_string().into_bytes(),
            );
            r.headers_mut()
                .insert("x-amzn-errortype", d.code.parse().expect("codes are ASCII"));
            r
        }
    }
}

/// A Query API's answer: the XML, or the `<ErrorResponse>` of the namespace `ns`.
pub fn query_reply(outcome: Result<String, crate::auth::Denial>, ns: &str) -> Reply {
    match outcome {
        Ok(xml) => reply(StatusCode::OK, "text/xml", xml.into_bytes()),
        Err(d) => {
            let xml = format!(
                "<ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                esc(&d.code),
                esc(&d.message),
                request_id()
            );
            reply(
                StatusCode::from_u16(d.status).unwrap_or(StatusCode::BAD_REQUEST),
                "text/xml",
                xml.into_bytes(),
            )
        }
    }
}

/// A fresh request id.
pub fn request_id() -> String {
    let n = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u128;
    let h = crate::sigv4::sha256_hex(&n.to_le_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// XML text escaping.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
