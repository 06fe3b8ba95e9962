//! Real connections to Envoy: from a chosen source address and port, with a
//! TLS ClientHello (chosen SNI and ALPN), raw bytes, or an HTTP/1.1 request.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// What the client sends first.
#[derive(Debug, Clone)]
pub enum Hello {
    /// A TLS ClientHello with this SNI (if any) and ALPN list.
    Tls { sni: Option<String>, alpn: Vec<String> },
    /// Bytes that are not TLS.
    Raw,
    /// An HTTP/1.1 request.
    Http {
        host: String,
        path: String,
        method: String,
        headers: Vec<(String, String)>,
    },
}

/// A TLS 1.2/1.3 ClientHello record: enough for Envoy's tls_inspector (it
/// reads SNI and ALPN); the handshake goes no further.
pub fn client_hello(sni: Option<&str>, alpn: &[String]) -> Vec<u8> {
    fn u16be(v: usize) -> [u8; 2] {
        (v as u16).to_be_bytes()
    }
    let mut ext = Vec::new();
    if let Some(sni) = sni {
        let name = sni.as_bytes();
        let mut list = vec![0u8];
        list.extend(u16be(name.len()));
        list.extend(name);
        ext.extend([0, 0]);
        ext.extend(u16be(list.len() + 2));
        ext.extend(u16be(list.len()));
        ext.extend(list);
    }
    if !alpn.is_empty() {
        let mut list = Vec::new();
        for p in alpn {
            list.push(p.len() as u8);
            list.extend(p.as_bytes());
        }
        ext.extend([0, 16]);
        ext.extend(u16be(list.len() + 2));
        ext.extend(u16be(list.len()));
        ext.extend(list);
    }
    // supported_versions: TLS 1.3, 1.2
    ext.extend([0, 43, 0, 5, 4, 3, 4, 3, 3]);
    // supported_groups: x25519; signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256
    ext.extend([0, 10, 0, 4, 0, 2, 0, 29]);
    ext.extend([0, 13, 0, 6, 0, 4, 4, 3, 8, 4]);
    let mut body = vec![3, 3];
    body.extend([7u8; 32]);
    body.push(0); // session id
    body.extend([0, 4, 0x13, 0x01, 0xc0, 0x2f]);
    body.extend([1, 0]); // compression: null
    body.extend(u16be(ext.len()));
    body.extend(ext);
    let mut hs = vec![1];
    hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend(u16be(hs.len()));
    rec.extend(hs);
    rec
}

/// Connects from `src` to `dst`, sends `hello`, and reads until Envoy
/// closes (bounded by 5 s). Returns the bytes Envoy answered; Err when the
/// source could not be bound or the connection not made.
pub fn send(src: SocketAddr, dst: SocketAddr, hello: &Hello) -> std::io::Result<Vec<u8>> {
    let domain = if dst.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let sock = Socket::new(domain, Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    // Close with a reset: no TIME_WAIT on our side, so a source port can be
    // used again at once.
    sock.set_linger(Some(Duration::ZERO))?;
    sock.bind(&src.into())?;
    sock.connect_timeout(&dst.into(), Duration::from_secs(5))?;
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let bytes = match hello {
        Hello::Tls { sni, alpn } => client_hello(sni.as_deref(), alpn),
        Hello::Raw => b"plain bytes, not TLS\r\n\r\n".to_vec(),
        Hello::Http {
            host,
            path,
            method,
            headers,
        } => {
            let mut r = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\n");
            for (k, v) in headers {
                r.push_str(&format!("{k}: {v}\r\n"));
            }
            r.push_str("connection: close\r\n\r\n");
            r.into_bytes()
        }
    };
    s.write_all(&bytes)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until Envoy closes, or for HTTP until the whole response is in
    // (Envoy waits up to its delayed_close_timeout, 1 s, for the client to
    // close first).
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if matches!(hello, Hello::Http { .. }) && response_complete(&out) {
            break;
        }
    }
    Ok(out)
}

/// Whether `b` holds a whole HTTP/1.1 response with a content-length body.
fn response_complete(b: &[u8]) -> bool {
    let Some(end) = b.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&b[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    len.is_some_and(|len| b.len() >= end + 4 + len)
}

/// The address a probe connects from.
pub fn source(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}
