//! WireGuard profiles in wg-quick `.conf` syntax: read, validate, write back.
//!
//! Parsing goes through rust-ini (sections in order, repeated `[Peer]` and keys,
//! case-insensitive keys, `#` comments). A first pass over the lines checks the
//! syntax rust-ini is lenient about and remembers each key's line number, so
//! every error names the file, the line, the key and the fix.

mod key;
mod net;

pub use key::{KEY_HINT, PublicKey, SecretKey};
pub use net::{Endpoint, IpNet, is_host_name, parse_port};

use crate::error::{Error, Result};
use ini::{Ini, ParseOption};
use std::fmt::Write as _;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

/// Profiles larger than this are refused without being read in full.
pub const MAX_SIZE: u64 = 1 << 20;

/// A validated profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conf {
    pub interface: Interface,
    pub peers: Vec<Peer>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub private_key: SecretKey,
    pub addresses: Vec<IpNet>,
    pub dns: Dns,
    pub mtu: Option<u16>,
    pub listen_port: Option<u16>,
}

/// `DNS =`: IP entries are name servers, the others search domains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dns {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub public_key: PublicKey,
    pub preshared_key: Option<SecretKey>,
    /// Networks with their host bits cleared, in the order written.
    pub allowed_ips: Vec<IpNet>,
    pub endpoint: Option<Endpoint>,
    pub persistent_keepalive: Option<u16>,
}

/// A profile and what was noticed but not refused in it.
#[derive(Debug)]
pub struct Parsed {
    pub conf: Conf,
    pub warnings: Vec<String>,
}

/// wg-quick keys that act on the host; they mean nothing here.
const HOST_SIDE_KEYS: &[&str] = &[
    "PreUp",
    "PostUp",
    "PreDown",
    "PostDown",
    "Table",
    "FwMark",
    "SaveConfig",
];
const INTERFACE_KEYS: &str = "PrivateKey, Address, DNS, MTU, ListenPort";
const PEER_KEYS: &str = "PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive";

/// Reads a profile file: at most [`MAX_SIZE`] bytes of UTF-8 text.
pub fn read_file(path: &Path) -> Result<String> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let shown = path.display();
    // Without blocking: a FIFO nobody writes to would hang the open.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::sys(format_args!("read profile {shown}"), e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::sys(format_args!("read profile {shown}"), e))?;
    if meta.file_type().is_fifo() && !writer_within(&file, FIFO_WAIT) {
        return Err(Error::new(format!(
            "cannot read profile {shown}: it is a FIFO and nothing wrote to it within {} s",
            FIFO_WAIT.as_secs()
        ))
        .hint("give a profile file, or write the profile into the FIFO"));
    }
    rustix::io::ioctl_fionbio(&file, false)
        .map_err(|e| Error::sys(format_args!("read profile {shown}"), e))?;
    if meta.is_dir() {
        return Err(
            Error::new(format!("cannot read profile {shown}: it is a directory"))
                .hint("give a WireGuard .conf file"),
        );
    }
    if meta.is_file() && meta.len() > MAX_SIZE {
        return Err(too_big(&shown.to_string()));
    }
    read_text(file, &shown.to_string())
}

/// How long a FIFO (or a pipe, as `<(...)` gives) may take to bring data.
const FIFO_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether something was written to (or closed by a writer of) `fifo`
/// within `wait`.
fn writer_within(fifo: &std::fs::File, wait: std::time::Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(fifo, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: wait.as_secs() as i64,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&timeout)).is_ok_and(|n| n > 0)
}

/// Reads profile text from any reader (a file, standard input), refusing more
/// than [`MAX_SIZE`] bytes and anything that is not text.
pub fn read_text(reader: impl Read, source: &str) -> Result<String> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::sys(format_args!("read profile {source}"), e))?;
    if bytes.len() as u64 > MAX_SIZE {
        return Err(too_big(source));
    }
    let not_text = || {
        Error::new(format!("{source}: not a text file")).hint("a WireGuard profile is a text file")
    };
    if bytes.contains(&0) {
        return Err(not_text());
    }
    String::from_utf8(bytes).map_err(|_| not_text())
}

fn too_big(source: &str) -> Error {
    Error::new(format!("{source}: larger than 1 MiB"))
        .hint("a WireGuard profile is a few hundred bytes; is this the right file?")
}

impl Conf {
    /// Parses and validates wg-quick text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Parsed> {
        let mut text = normalize(text);
        let parsed = Parser::new(&text, source).and_then(Parser::parse);
        zeroize::Zeroize::zeroize(&mut text);
        parsed
    }

    /// The profile as wg-quick text (what the chain hands down in a sealed memfd).
    pub fn to_wg_quick(&self) -> String {
        let mut out = String::from("[Interface]\n");
        let i = &self.interface;
        let _ = writeln!(out, "PrivateKey = {}", i.private_key.to_base64());
        let _ = writeln!(out, "Address = {}", join(&i.addresses));
        let dns: Vec<String> = (i.dns.servers.iter().map(ToString::to_string))
            .chain(i.dns.search.iter().cloned())
            .collect();
        if !dns.is_empty() {
            let _ = writeln!(out, "DNS = {}", dns.join(", "));
        }
        if let Some(mtu) = i.mtu {
            let _ = writeln!(out, "MTU = {mtu}");
        }
        if let Some(port) = i.listen_port {
            let _ = writeln!(out, "ListenPort = {port}");
        }
        for peer in &self.peers {
            let _ = writeln!(out, "\n[Peer]\nPublicKey = {}", peer.public_key);
            if let Some(psk) = &peer.preshared_key {
                let _ = writeln!(out, "PresharedKey = {}", psk.to_base64());
            }
            if !peer.allowed_ips.is_empty() {
                let _ = writeln!(out, "AllowedIPs = {}", join(&peer.allowed_ips));
            }
            if let Some(endpoint) = &peer.endpoint {
                let _ = writeln!(out, "Endpoint = {endpoint}");
            }
            if let Some(keepalive) = peer.persistent_keepalive {
                let _ = writeln!(out, "PersistentKeepalive = {keepalive}");
            }
        }
        out
    }

    /// True when any address or AllowedIPs entry is IPv6.
    pub fn uses_ipv6(&self) -> bool {
        any_ipv6(&self.interface, &self.peers)
    }
}

/// True when any address or AllowedIPs entry is IPv6 (then the MTU must be 1280 or more).
fn any_ipv6(interface: &Interface, peers: &[Peer]) -> bool {
    interface.addresses.iter().any(IpNet::is_ipv6)
        || peers
            .iter()
            .flat_map(|p| &p.allowed_ips)
            .any(IpNet::is_ipv6)
}

fn join(nets: &[IpNet]) -> String {
    let parts: Vec<String> = nets.iter().map(ToString::to_string).collect();
    parts.join(", ")
}

/// What wg-quick accepts and rust-ini does not, made plain (line numbers
/// kept): a UTF-8 byte-order mark (Windows editors, some providers'
/// downloads), and a comment after a section header (`[Peer] # the server`).
fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        match (trimmed.starts_with('['), trimmed.find(']')) {
            (true, Some(end)) if trimmed[end + 1..].trim_start().starts_with('#') => {
                out.push_str(&trimmed[..=end]);
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// Line numbers of sections and keys, in file order (section 0: before any header).
struct Layout {
    sections: Vec<Vec<usize>>,
    headers: Vec<usize>,
}

/// First pass: syntax rust-ini accepts but wg(8) does not, and line numbers.
fn scan(text: &str, source: &str) -> Result<Layout> {
    let mut layout = Layout {
        sections: vec![Vec::new()],
        headers: vec![0],
    };
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let here = |what: &str| {
            Error::new(format!("{source} line {line_no}: {what}"))
                .hint("each line is `Key = Value`, a [Section] header, or a # comment")
        };
        if line.starts_with('[') {
            let name = line
                .strip_suffix(']')
                .ok_or_else(|| here(&format!("\"{}\" is not a section header", clip(line))))?;
            if name[1..].contains(['[', ']']) {
                return Err(here(&format!("\"{}\" is not a section header", clip(line))));
            }
            layout.sections.push(Vec::new());
            layout.headers.push(line_no);
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            return Err(here(&format!("\"{}\" is not `Key = Value`", clip(line))));
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(here(&format!("\"{}\" is not `Key = Value`", clip(line))));
        }
        if let Some(keys) = layout.sections.last_mut() {
            keys.push(line_no);
        }
    }
    Ok(layout)
}

/// At most 40 characters of a bad line, so an error stays one short line.
fn clip(line: &str) -> String {
    match line.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// A section's name (None before the first header) and its keys and values in order.
type Section = (Option<String>, Vec<(String, String)>);

struct Parser<'a> {
    source: &'a str,
    ini: Ini,
    layout: Layout,
    warnings: Vec<String>,
}

/// Where a value was written, for error messages.
#[derive(Clone, Copy)]
struct At<'a> {
    line: Option<usize>,
    key: &'a str,
}

impl<'a> Parser<'a> {
    fn new(text: &str, source: &'a str) -> Result<Self> {
        if text.trim().is_empty() {
            return Err(Error::new(format!("{source}: empty profile"))
                .hint("a WireGuard profile has an [Interface] section and at least one [Peer]"));
        }
        let layout = scan(text, source)?;
        let opt = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            ..Default::default()
        };
        let ini = Ini::load_from_str_opt(text, opt).map_err(|e| {
            Error::new(format!("{source} line {}: {}", e.line, e.msg))
                .hint("each line is `Key = Value`, a [Section] header, or a # comment")
        })?;
        Ok(Parser {
            source,
            ini,
            layout,
            warnings: Vec::new(),
        })
    }

    fn error(&self, at: At, problem: impl std::fmt::Display, hint: &str) -> Error {
        let place = match at.line {
            Some(line) => format!("{} line {line}", self.source),
            None => self.source.to_string(),
        };
        Error::new(format!("{place}: {}: {problem}", at.key)).hint(hint)
    }

    fn section_error(&self, line: usize, problem: impl std::fmt::Display, hint: &str) -> Error {
        Error::new(format!("{} line {line}: {problem}", self.source)).hint(hint)
    }

    fn parse(mut self) -> Result<Parsed> {
        let sections: Vec<Section> = self
            .ini
            .iter()
            .map(|(name, props)| {
                let props = props
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                    .collect();
                (name.map(str::to_string), props)
            })
            .collect();
        if sections.len() != self.layout.sections.len() {
            // Should not happen; line numbers are then left out rather than wrong.
            self.layout.sections = vec![Vec::new(); sections.len()];
            self.layout.headers = vec![0; sections.len()];
        }
        let mut interface = None;
        let mut peers = Vec::new();
        for (ordinal, (name, props)) in sections.iter().enumerate() {
            let lines = &self.layout.sections[ordinal];
            let entries: Vec<(At, &str)> = props
                .iter()
                .enumerate()
                .map(|(j, (k, v))| {
                    let line = (lines.len() == props.len()).then(|| lines[j]);
                    (
                        At {
                            line,
                            key: k.as_str(),
                        },
                        v.as_str(),
                    )
                })
                .collect();
            let header = self.layout.headers[ordinal];
            match name.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None => {
                    if let Some((at, _)) = entries.first() {
                        return Err(self.error(
                            *at,
                            "set outside any section",
                            "put it under [Interface] or [Peer]",
                        ));
                    }
                }
                Some("interface") => {
                    if interface.is_some() {
                        return Err(self.section_error(
                            header,
                            "a second [Interface] section",
                            "a profile has exactly one [Interface]",
                        ));
                    }
                    interface = Some(self.interface(header, &entries)?);
                }
                Some("peer") => peers.push(self.peer(header, &entries)?),
                Some(_) => {
                    let name = name.as_deref().unwrap_or_default();
                    return Err(self.section_error(
                        header,
                        format!("unknown section [{name}]"),
                        "a profile has one [Interface] and [Peer] sections",
                    ));
                }
            }
        }
        let Some(interface) = interface else {
            return Err(
                Error::new(format!("{}: no [Interface] section", self.source)).hint(
                    "add [Interface] with PrivateKey and Address, as your VPN provider gives them",
                ),
            );
        };
        if peers.is_empty() {
            return Err(Error::new(format!("{}: no [Peer] section", self.source))
                .hint("add [Peer] with PublicKey, AllowedIPs and Endpoint"));
        }
        self.check_whole(&interface, &peers)?;
        Ok(Parsed {
            conf: Conf { interface, peers },
            warnings: self.warnings,
        })
    }

    fn interface(&mut self, header: usize, entries: &[(At, &str)]) -> Result<Interface> {
        let mut private_key = None;
        let mut addresses = Vec::new();
        let mut dns = Dns::default();
        let mut mtu = None;
        let mut listen_port = None;
        for &(at, value) in entries {
            match at.key.to_ascii_lowercase().as_str() {
                "privatekey" => {
                    self.once(at, private_key.is_some())?;
                    private_key =
                        Some(SecretKey::parse(value).map_err(|p| self.error(at, p, KEY_HINT))?);
                }
                "address" => {
                    for item in words(value) {
                        addresses.push(item.parse::<IpNet>().map_err(|p| {
                            self.error(at, p, "expected e.g. 10.64.0.2/32 or fd00:64::2/128")
                        })?);
                    }
                }
                "dns" => {
                    for item in words(value) {
                        if let Ok(ip) = item.parse::<IpAddr>() {
                            dns.servers.push(ip);
                        } else if is_host_name(item) {
                            dns.search.push(item.to_string());
                        } else {
                            return Err(self.error(
                                at,
                                format!("\"{item}\" is neither an IP address nor a domain"),
                                "expected name servers and search domains, e.g. 10.64.0.1, example.com",
                            ));
                        }
                    }
                }
                "mtu" => {
                    self.once(at, mtu.is_some())?;
                    mtu = Some(value.parse::<u16>().ok().filter(|m| *m >= 576).ok_or_else(|| {
                        self.error(
                            at,
                            format!("\"{value}\" is not an MTU"),
                            "expected 576 to 65535 (1280 or more with IPv6), or no MTU line for the default",
                        )
                    })?);
                }
                "listenport" => {
                    self.once(at, listen_port.is_some())?;
                    listen_port = Some(parse_port(value).map_err(|p| {
                        self.error(at, p, "leave ListenPort out for a random port")
                    })?);
                }
                _ => self.other_key(at, "[Interface]", INTERFACE_KEYS)?,
            }
        }
        let missing = |key: &str, hint: &str| {
            self.section_error(header, format!("[Interface] has no {key}"), hint)
        };
        let private_key = private_key.ok_or_else(|| {
            missing(
                "PrivateKey",
                "add `PrivateKey = ...` from your VPN provider's config, or make one with `wg genkey`",
            )
        })?;
        if addresses.is_empty() {
            return Err(missing(
                "Address",
                "add the tunnel address your VPN provider gave you, e.g. `Address = 10.64.0.2/32`",
            ));
        }
        Ok(Interface {
            private_key,
            addresses,
            dns,
            mtu,
            listen_port,
        })
    }

    fn peer(&mut self, header: usize, entries: &[(At, &str)]) -> Result<Peer> {
        let mut public_key = None;
        let mut preshared_key = None;
        let mut allowed_ips = Vec::new();
        let mut endpoint = None;
        let mut persistent_keepalive = None;
        for &(at, value) in entries {
            match at.key.to_ascii_lowercase().as_str() {
                "publickey" => {
                    self.once(at, public_key.is_some())?;
                    public_key =
                        Some(PublicKey::parse(value).map_err(|p| self.error(at, p, KEY_HINT))?);
                }
                "presharedkey" => {
                    self.once(at, preshared_key.is_some())?;
                    preshared_key =
                        Some(SecretKey::parse(value).map_err(|p| self.error(at, p, KEY_HINT))?);
                }
                "allowedips" => {
                    for item in list(value) {
                        if item.contains(char::is_whitespace) {
                            return Err(self.error(
                                at,
                                format!("\"{item}\" holds several networks"),
                                "separate them with commas, e.g. 0.0.0.0/0, ::/0",
                            ));
                        }
                        let net = item.parse::<IpNet>().map_err(|p| {
                            self.error(at, p, "expected IP networks, e.g. 0.0.0.0/0, ::/0")
                        })?;
                        allowed_ips.push(net.network());
                    }
                }
                "endpoint" => {
                    self.once(at, endpoint.is_some())?;
                    endpoint = Some(value.parse::<Endpoint>().map_err(|p| {
                        self.error(at, p, "expected e.g. 198.51.100.1:51820, [2001:db8::1]:51820 or vpn.example.com:51820")
                    })?);
                }
                "persistentkeepalive" => {
                    self.once(at, persistent_keepalive.is_some())?;
                    let seconds = if value.eq_ignore_ascii_case("off") {
                        0
                    } else {
                        value.parse::<u16>().map_err(|_| {
                            self.error(
                                at,
                                format!("\"{value}\" is not a number of seconds"),
                                "expected 1 to 65535, or off",
                            )
                        })?
                    };
                    persistent_keepalive = Some(seconds).filter(|s| *s > 0);
                }
                _ => self.other_key(at, "[Peer]", PEER_KEYS)?,
            }
        }
        let public_key = public_key.ok_or_else(|| {
            self.section_error(
                header,
                "[Peer] has no PublicKey",
                "add the server's `PublicKey = ...` from your VPN provider's config",
            )
        })?;
        if allowed_ips.is_empty() {
            self.warnings.push(format!(
                "{} line {header}: [Peer] {public_key} has no AllowedIPs: no traffic will go to it",
                self.source
            ));
        }
        Ok(Peer {
            public_key,
            preshared_key,
            allowed_ips,
            endpoint,
            persistent_keepalive,
        })
    }

    /// A single-valued key given twice.
    fn once(&self, at: At, seen: bool) -> Result<()> {
        if seen {
            return Err(self.error(at, "given twice", "keep one line for it"));
        }
        Ok(())
    }

    /// wg-quick's host-side keys are warned about; anything else is refused.
    fn other_key(&mut self, at: At, section: &str, known: &str) -> Result<()> {
        if section == "[Interface]"
            && HOST_SIDE_KEYS
                .iter()
                .any(|k| k.eq_ignore_ascii_case(at.key))
        {
            let place = match at.line {
                Some(line) => format!("{} line {line}", self.source),
                None => self.source.to_string(),
            };
            self.warnings.push(format!(
                "{place}: {} is ignored: wg-wrap never runs commands or changes the host's network",
                at.key
            ));
            return Ok(());
        }
        Err(self.error(
            at,
            format!("not a {section} key"),
            &format!("{section} keys are {known}"),
        ))
    }

    /// Checks that span sections: MTU against IPv6, duplicate peers.
    fn check_whole(&self, interface: &Interface, peers: &[Peer]) -> Result<()> {
        let v6 = any_ipv6(interface, peers);
        if let Some(mtu) = interface.mtu
            && v6
            && mtu < 1280
        {
            return Err(
                Error::new(format!("{}: MTU: {mtu} is too small for IPv6", self.source))
                    .hint("IPv6 needs an MTU of 1280 or more"),
            );
        }
        let own = interface.private_key.public_key();
        for (i, peer) in peers.iter().enumerate() {
            if peers[..i].iter().any(|p| p.public_key == peer.public_key) {
                return Err(Error::new(format!(
                    "{}: PublicKey: peer {} is listed twice",
                    self.source, peer.public_key
                ))
                .hint("merge the two [Peer] sections into one"));
            }
            if peer.public_key == own {
                return Err(Error::new(format!(
                    "{}: PublicKey: peer {} is this interface's own key",
                    self.source, peer.public_key
                ))
                .hint("a [Peer]'s PublicKey is the server's key, not yours"));
            }
        }
        Ok(())
    }
}

/// A comma-separated value, trimmed, empty items dropped.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Items separated by commas or whitespace, as wg-quick takes Address and DNS.
fn words(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests;
