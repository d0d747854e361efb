//! The SOCKS side of `-D`: SOCKS5 (CONNECT, no authentication, IPv4 / IPv6 / domain names)
//! and SOCKS4/4a; the name is passed on unresolved, so the instance resolves it.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a SOCKS client asked to reach, and how to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Host name or address, as the client sent it.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The protocol version that asked (4 or 5), for the reply.
    version: u8,
}

fn refused(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// Reads a SOCKS4, 4a or 5 handshake up to the CONNECT request. Anything else is refused
/// with the protocol's own reply where it has one.
pub async fn accept(socket: &mut TcpStream) -> io::Result<Request> {
    match socket.read_u8().await? {
        5 => socks5(socket).await,
        4 => socks4(socket).await,
        v => Err(refused(&format!("not a SOCKS client (version byte {v})"))),
    }
}

async fn socks5(socket: &mut TcpStream) -> io::Result<Request> {
    let n = socket.read_u8().await?;
    let mut methods = vec![0u8; usize::from(n)];
    socket.read_exact(&mut methods).await?;
    // Only "no authentication": the proxy listens on loopback unless the user says otherwise.
    if !methods.contains(&0) {
        socket.write_all(&[5, 0xFF]).await?;
        return Err(refused("the client offers no method but authentication"));
    }
    socket.write_all(&[5, 0]).await?;
    let mut head = [0u8; 4];
    socket.read_exact(&mut head).await?;
    let [_, command, _, address_type] = head;
    if command != 1 {
        reply5(socket, 7).await?;
        return Err(refused("only CONNECT is supported"));
    }
    let host: io::Result<String> = match address_type {
        1 => {
            let mut a = [0u8; 4];
            socket.read_exact(&mut a).await?;
            Ok(Ipv4Addr::from(a).to_string())
        }
        4 => {
            let mut a = [0u8; 16];
            socket.read_exact(&mut a).await?;
            Ok(Ipv6Addr::from(a).to_string())
        }
        3 => {
            let len = socket.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            socket.read_exact(&mut name).await?;
            String::from_utf8(name)
                .map_err(|_| refused("the host name is not UTF-8"))
                .and_then(|name| plain_host(name, 5))
        }
        _ => {
            reply5(socket, 8).await?;
            return Err(refused("unknown address type"));
        }
    };
    let port = socket.read_u16().await?;
    // A name the server would choke on (sshd drops the whole connection at a NUL) is
    // refused here, for this one client, with the protocol's "not allowed" answer.
    let host = match host {
        Ok(host) => host,
        Err(e) => {
            reply5(socket, 2).await?;
            return Err(e);
        }
    };
    Ok(Request {
        host,
        port,
        version: 5,
    })
}

async fn socks4(socket: &mut TcpStream) -> io::Result<Request> {
    let command = socket.read_u8().await?;
    let port = socket.read_u16().await?;
    let mut ip = [0u8; 4];
    socket.read_exact(&mut ip).await?;
    read_until_nul(socket).await?; // the user id, unused
    if command != 1 {
        socket.write_all(&[0, 0x5B, 0, 0, 0, 0, 0, 0]).await?;
        return Err(refused("only CONNECT is supported"));
    }
    // SOCKS4a: 0.0.0.x (x ≠ 0) means "the name follows".
    let host = if ip[..3] == [0, 0, 0] && ip[3] != 0 {
        let name = String::from_utf8(read_until_nul(socket).await?)
            .map_err(|_| refused("the host name is not UTF-8"))
            .and_then(|name| plain_host(name, 4));
        match name {
            Ok(name) => name,
            Err(e) => {
                socket.write_all(&[0, 0x5B, 0, 0, 0, 0, 0, 0]).await?;
                return Err(e);
            }
        }
    } else {
        Ipv4Addr::from(ip).to_string()
    };
    Ok(Request {
        host,
        port,
        version: 4,
    })
}

/// A host name fit to pass on: not empty, at most 255 bytes, no control characters (a
/// NUL inside makes sshd drop the whole connection, every forward with it).
fn plain_host(name: String, version: u8) -> io::Result<String> {
    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(refused(&format!(
            "SOCKS{version} host name {} refused: empty, too long or with control characters",
            crate::printable::escape(&name)
        )));
    }
    Ok(name)
}

async fn read_until_nul(socket: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match socket.read_u8().await? {
            0 => return Ok(out),
            _ if out.len() >= 255 => return Err(refused("a SOCKS4 field longer than 255 bytes")),
            b => out.push(b),
        }
    }
}

async fn reply5(socket: &mut TcpStream, code: u8) -> io::Result<()> {
    socket.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await
}

impl Request {
    /// Tells the client the connection is open.
    pub async fn grant(&self, socket: &mut TcpStream) -> io::Result<()> {
        match self.version {
            5 => reply5(socket, 0).await,
            _ => socket.write_all(&[0, 0x5A, 0, 0, 0, 0, 0, 0]).await,
        }
    }

    /// Tells the client the connection is not allowed (the egress guard said no).
    pub async fn deny(&self, socket: &mut TcpStream) -> io::Result<()> {
        match self.version {
            5 => reply5(socket, 2).await,
            _ => socket.write_all(&[0, 0x5B, 0, 0, 0, 0, 0, 0]).await,
        }
    }

    /// Tells the client the instance could not connect.
    pub async fn refuse(&self, socket: &mut TcpStream) -> io::Result<()> {
        match self.version {
            5 => reply5(socket, 5).await,
            _ => socket.write_all(&[0, 0x5B, 0, 0, 0, 0, 0, 0]).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        (client, server)
    }

    #[tokio::test]
    async fn socks5_with_a_domain_name() {
        let (mut client, mut server) = pair().await;
        let ask = async {
            client.write_all(&[5, 1, 0]).await.unwrap();
            let mut choice = [0u8; 2];
            client.read_exact(&mut choice).await.unwrap();
            assert_eq!(choice, [5, 0]);
            let mut req = vec![5, 1, 0, 3, 11];
            req.extend_from_slice(b"db.internal");
            req.extend_from_slice(&5432u16.to_be_bytes());
            client.write_all(&req).await.unwrap();
        };
        let (_, got) = tokio::join!(ask, accept(&mut server));
        let got = got.unwrap();
        assert_eq!((got.host.as_str(), got.port), ("db.internal", 5432));
    }

    #[tokio::test]
    async fn names_with_control_characters_are_refused_with_a_reply() {
        let (mut client, mut server) = pair().await;
        let ask = async {
            client.write_all(&[5, 1, 0]).await.unwrap();
            let mut choice = [0u8; 2];
            client.read_exact(&mut choice).await.unwrap();
            let mut req = vec![5, 1, 0, 3, 3];
            req.extend_from_slice(b"a\0b");
            req.extend_from_slice(&80u16.to_be_bytes());
            client.write_all(&req).await.unwrap();
            let mut reply = [0u8; 10];
            client.read_exact(&mut reply).await.unwrap();
            reply
        };
        let (reply, got) = tokio::join!(ask, accept(&mut server));
        assert!(got.is_err());
        assert_eq!(reply[..2], [5, 2], "not allowed");

        let (mut client, mut server) = pair().await;
        let mut req = vec![4, 1, 0, 80, 0, 0, 0, 1, 0];
        req.extend_from_slice(b"bad\x1bname\0");
        client.write_all(&req).await.unwrap();
        assert!(accept(&mut server).await.is_err());
        let mut reply = [0u8; 8];
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply[..2], [0, 0x5B]);
    }

    #[tokio::test]
    async fn socks4a_and_authentication_only_clients() {
        let (mut client, mut server) = pair().await;
        let mut req = vec![4, 1];
        req.extend_from_slice(&80u16.to_be_bytes());
        req.extend_from_slice(&[0, 0, 0, 1, b'u', 0]);
        req.extend_from_slice(b"web.internal\0");
        client.write_all(&req).await.unwrap();
        let got = accept(&mut server).await.unwrap();
        assert_eq!((got.host.as_str(), got.port), ("web.internal", 80));

        let (mut client, mut server) = pair().await;
        client.write_all(&[5, 1, 2]).await.unwrap();
        assert!(accept(&mut server).await.is_err());
        let mut answer = [0u8; 2];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer, [5, 0xFF]);
    }
}
