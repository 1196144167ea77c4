//! A live namespace as `wg-wrap status` and `wg-pin --list` show it: one
//! line, or JSON, from its registry entry and its engine's status.

use super::registry::{self, Entry};
use super::status::{PeerStatus, query};
use std::path::Path;

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
    fn text_is_escaped_and_durations_short() {
        assert_eq!(json_string("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
        assert_eq!(printable("a\x1b[2J"), "a\\x1b[2J");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(600), "10m");
    }
}
