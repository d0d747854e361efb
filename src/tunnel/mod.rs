//! The tunnel: presigned `openTunnel` WebSocket as a byte stream, and what pumps bytes through it.

pub mod connect;
pub mod endpoint;
pub mod error;
pub mod lifetime;
pub mod presign;
pub mod relay;
pub mod stream;
/// The byte transport lives in `net`; the old path stays.
pub use crate::net::transport;

pub use connect::ConnectError;
pub use endpoint::TunnelEndpoint;
pub use presign::TunnelRequest;
pub use stream::{CloseError, Tunnel, TunnelReader, TunnelWriter};
