//! The engines' status sockets, `engine-PID.sock` in the runtime
//! directory, and their protocol, both sides: WireGuard's cross-platform
//! UAPI, `get=1` only (never a key). The engine serves it (`engine::uapi`
//! does the I/O); `wg-wrap status` and `wg-pin --list` ask it.

use crate::conf::PublicKey;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The status socket of engine `pid`.
pub fn socket_path(runtime: &Path, pid: u32) -> PathBuf {
    runtime.join(format!("engine-{pid}.sock"))
}

/// What a client may ask.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Get,
}

/// One request: `get=1` then an empty line. Anything else is answered with
/// an errno: EPERM for `set=1` (this socket never changes the engine),
/// EINVAL for the rest (a partial, unknown or trailing line, or not UTF-8).
pub fn parse_request(bytes: &[u8]) -> Result<Request, i32> {
    let text = std::str::from_utf8(bytes).map_err(|_| libc::EINVAL)?;
    let lines = text.strip_suffix("\n\n").ok_or(libc::EINVAL)?;
    let mut lines = lines.split('\n');
    match (lines.next(), lines.next()) {
        (Some("get=1"), None) => Ok(Request::Get),
        (Some("set=1"), _) => Err(libc::EPERM),
        _ => Err(libc::EINVAL),
    }
}

/// The answer to an unknown or refused request.
pub fn error_reply(errno: i32) -> String {
    format!("errno={errno}\n\n")
}

/// One peer as `get=1` tells it (the keys `wg show dump` uses).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStatus {
    /// Base64, as profiles and `wg` show it (hexadecimal on the wire).
    pub public_key: String,
    pub endpoint: Option<String>,
    /// Seconds since the epoch; 0: never.
    pub last_handshake: u64,
    pub last_handshake_nsec: u32,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub keepalive: u16,
    pub allowed_ips: Vec<String>,
}

/// `get=1`'s answer: the listening port, then each peer.
pub fn reply(listen_port: Option<u16>, peers: &[PeerStatus]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if let Some(port) = listen_port {
        let _ = writeln!(out, "listen_port={port}");
    }
    for peer in peers {
        let key = PublicKey::parse(&peer.public_key).map_or_else(
            |_| peer.public_key.clone(),
            |k| k.bytes().iter().map(|b| format!("{b:02x}")).collect(),
        );
        let _ = writeln!(out, "public_key={key}");
        if let Some(endpoint) = &peer.endpoint {
            let _ = writeln!(out, "endpoint={endpoint}");
        }
        let _ = writeln!(
            out,
            "last_handshake_time_sec={}\nlast_handshake_time_nsec={}",
            peer.last_handshake, peer.last_handshake_nsec
        );
        let _ = writeln!(
            out,
            "rx_bytes={}\ntx_bytes={}",
            peer.rx_bytes, peer.tx_bytes
        );
        let _ = writeln!(out, "persistent_keepalive_interval={}", peer.keepalive);
        for net in &peer.allowed_ips {
            let _ = writeln!(out, "allowed_ip={net}");
        }
        let _ = writeln!(out, "protocol_version=1");
    }
    out.push_str(&error_reply(0));
    out
}

/// The most a status reply may take, and may hold: whatever answers on the
/// socket (an engine, or anything that took its place) cannot stall a
/// listing by trickling bytes.
const QUERY_TIME: Duration = Duration::from_secs(2);
const MAX_REPLY: usize = 64 << 10;

/// Connects to a status socket without waiting: a full listen queue (an
/// engine stopped with SIGSTOP by a program of the same uid) is an error,
/// not a hang.
pub fn connect(socket: &Path) -> std::io::Result<UnixStream> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::connect(&fd, &SocketAddrUnix::new(socket)?)?;
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Asks an engine `get=1` on its status socket.
pub fn query(socket: &Path) -> std::io::Result<Vec<PeerStatus>> {
    let deadline = std::time::Instant::now() + QUERY_TIME;
    let mut stream = connect(socket)?;
    stream.set_write_timeout(Some(QUERY_TIME))?;
    stream.write_all(b"get=1\n\n")?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while reply.len() < MAX_REPLY {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk)? {
            0 => break,
            n => reply.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(parse(&String::from_utf8_lossy(&reply)))
}

/// Parses a `get=1` reply into its peers.
pub fn parse(reply: &str) -> Vec<PeerStatus> {
    let mut peers: Vec<PeerStatus> = Vec::new();
    for line in reply.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key == "public_key" {
            let bytes: Option<Vec<u8>> = (0..value.len() / 2)
                .map(|i| u8::from_str_radix(value.get(2 * i..2 * i + 2)?, 16).ok())
                .collect();
            let key = bytes
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map_or(value.to_string(), |b| PublicKey::from_bytes(b).to_string());
            peers.push(PeerStatus {
                public_key: key,
                ..Default::default()
            });
            continue;
        }
        let Some(peer) = peers.last_mut() else {
            continue;
        };
        match key {
            "endpoint" => peer.endpoint = Some(value.to_string()),
            "last_handshake_time_sec" => peer.last_handshake = value.parse().unwrap_or(0),
            "last_handshake_time_nsec" => peer.last_handshake_nsec = value.parse().unwrap_or(0),
            "persistent_keepalive_interval" => peer.keepalive = value.parse().unwrap_or(0),
            "allowed_ip" => peer.allowed_ips.push(value.to_string()),
            "rx_bytes" => peer.rx_bytes = value.parse().unwrap_or(0),
            "tx_bytes" => peer.tx_bytes = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    peers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_get_is_answered() {
        assert_eq!(parse_request(b"get=1\n\n"), Ok(Request::Get));
        assert_eq!(
            parse_request(b"set=1\nprivate_key=00\n\n"),
            Err(libc::EPERM)
        );
        for bad in [
            &b"get=1\n"[..],
            b"get=1",
            b"get=1\nx=1\n\n",
            b"get=2\n\n",
            b"\n\n",
            b"\xff\n\n",
        ] {
            assert_eq!(parse_request(bad), Err(libc::EINVAL), "{bad:?}");
        }
    }

    #[test]
    fn a_reply_reads_back_as_it_was_written() {
        let peers = vec![
            PeerStatus {
                public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=".into(),
                endpoint: Some("198.18.0.1:51820".into()),
                last_handshake: 1_700_000_000,
                last_handshake_nsec: 5,
                rx_bytes: 10,
                tx_bytes: 20,
                keepalive: 25,
                allowed_ips: vec!["0.0.0.0/0".into(), "::/0".into()],
            },
            PeerStatus {
                public_key: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=".into(),
                ..PeerStatus::default()
            },
        ];
        let text = reply(Some(51820), &peers);
        assert!(
            text.contains(
                "public_key=c53201039adba14be71f886da1d8dbe9eebded08cb111b75340078999aa9f038\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("errno=0\n\n"));
        assert_eq!(parse(&text), peers);
    }
}
