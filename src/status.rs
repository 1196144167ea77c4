//! Live status of engines, read from their UAPI status sockets, and its
//! presentation for `wg-pin --list` and `wg-wrap status`.

use crate::conf::PublicKey;
use crate::registry::{self, Entry};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStatus {
    pub public_key: String,
    pub endpoint: Option<String>,
    /// Seconds since the epoch; 0: never.
    pub last_handshake: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
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

/// Parses a UAPI `get=1` reply into its peers.
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
            "rx_bytes" => peer.rx_bytes = value.parse().unwrap_or(0),
            "tx_bytes" => peer.tx_bytes = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    peers
}

/// One live namespace as listed: its entry, its pin name if any, its peers.
pub struct Namespace {
    pub name: Option<String>,
    pub entry: Entry,
    pub peers: Vec<PeerStatus>,
}

impl Namespace {
    pub fn read(runtime: &Path, name: Option<String>, entry: Entry) -> Namespace {
        let peers = query(&entry.socket(runtime)).unwrap_or_default();
        Namespace { name, entry, peers }
    }

    /// One line, name first: `work profile=work engine=1234 age=5m peer=... `.
    pub fn line(&self) -> String {
        let now = registry::now();
        let mut line = format!(
            "{} profile={} engine={} age={}",
            printable(self.name.as_deref().unwrap_or("-")),
            printable(&self.entry.profile),
            self.entry.engine_pid,
            duration(self.entry.age_secs())
        );
        for peer in &self.peers {
            let handshake = if peer.last_handshake == 0 {
                "never".to_string()
            } else {
                format!("{} ago", duration(now.saturating_sub(peer.last_handshake)))
            };
            line.push_str(&format!(
                " peer={} endpoint={} handshake={handshake} rx={} tx={}",
                printable(&peer.public_key),
                printable(peer.endpoint.as_deref().unwrap_or("-")),
                peer.rx_bytes,
                peer.tx_bytes
            ));
        }
        line
    }

    pub fn json(&self) -> String {
        let now = registry::now();
        let peers: Vec<String> = self
            .peers
            .iter()
            .map(|p| {
                let handshake = if p.last_handshake == 0 {
                    "null".to_string()
                } else {
                    now.saturating_sub(p.last_handshake).to_string()
                };
                format!(
                    "{{\"public_key\":{},\"endpoint\":{},\"last_handshake_secs_ago\":{handshake},\"rx_bytes\":{},\"tx_bytes\":{}}}",
                    json_string(&p.public_key),
                    p.endpoint.as_deref().map_or("null".to_string(), json_string),
                    p.rx_bytes,
                    p.tx_bytes
                )
            })
            .collect();
        format!(
            "{{\"name\":{},\"profile\":{},\"engine_pid\":{},\"age_secs\":{},\"netns\":{},\"peers\":[{}]}}",
            self.name.as_deref().map_or("null".to_string(), json_string),
            json_string(&self.entry.profile),
            self.entry.engine_pid,
            self.entry.age_secs(),
            self.entry.netns,
            peers.join(",")
        )
    }
}

/// `text` with control characters (a terminal's escape sequences among
/// them) shown as `\xNN`: registry entries and names come from files a
/// program inside could have written.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// `90s`, `5m`, `3h`, `2d`.
pub fn duration(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        7200..172800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// A JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uapi_replies_parse_per_peer() {
        let reply = "listen_port=5\npublic_key=c53201039adba14be71f886da1d8dbe9eebded08cb111b75340078999aa9f038\n";
        let peers = parse(&reply.replace(' ', ""));
        assert_eq!(
            peers[0].public_key,
            "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
        );
        let reply = "public_key=00\nendpoint=198.18.0.1:51820\nlast_handshake_time_sec=7\nrx_bytes=10\ntx_bytes=20\nallowed_ip=0.0.0.0/0\nerrno=0\n\n";
        assert_eq!(
            parse(reply),
            [PeerStatus {
                public_key: "00".into(),
                endpoint: Some("198.18.0.1:51820".into()),
                last_handshake: 7,
                rx_bytes: 10,
                tx_bytes: 20
            }]
        );
        assert_eq!(json_string("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(600), "10m");
    }
}
