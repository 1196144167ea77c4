use super::*;

const SK: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
const PK1: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
const PK2: &str = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=";
const PSK: &str = "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=";

fn parse(text: &str) -> Result<Parsed> {
    Conf::parse(text, "work.conf")
}

fn err(text: &str) -> String {
    parse(text).expect_err("accepted").to_string()
}

fn minimal(extra_interface: &str, peer: &str) -> String {
    format!(
        "[Interface]\nPrivateKey = {SK}\nAddress = 10.64.0.2/32\n{extra_interface}\n[Peer]\nPublicKey = {PK1}\n{peer}\n"
    )
}

#[test]
fn every_key_is_read() {
    let text = format!(
        "# provider config\n\
         [Interface]\n\
         PrivateKey = {SK}\n\
         Address = 10.64.0.2/32, fd00:64::2/128\n\
         Address = 10.65.0.2\n\
         DNS = 10.64.0.1, fd00:64::1\n\
         DNS = corp.example, example.com\n\
         MTU = 1380\n\
         ListenPort = 51820\n\
         \n\
         [Peer]\n\
         PublicKey = {PK1}\n\
         PresharedKey = {PSK}\n\
         AllowedIPs = 0.0.0.0/0, ::/0\n\
         Endpoint = [fd00::1]:51820\n\
         PersistentKeepalive = 25\n\
         \n\
         [Peer]\n\
         PublicKey = {PK2}\n\
         AllowedIPs = 198.18.5.7/16 # inline comment\n\
         AllowedIPs = 198.19.0.0/24\n\
         Endpoint = vpn.example.com:443\n\
         PersistentKeepalive = off\n"
    );
    let parsed = parse(&text).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let c = parsed.conf;
    assert_eq!(c.interface.private_key.to_base64(), SK);
    let addrs: Vec<String> = c
        .interface
        .addresses
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(addrs, ["10.64.0.2/32", "fd00:64::2/128", "10.65.0.2/32"]);
    assert_eq!(
        c.interface.dns.servers,
        [
            "10.64.0.1".parse::<IpAddr>().unwrap(),
            "fd00:64::1".parse().unwrap()
        ]
    );
    assert_eq!(c.interface.dns.search, ["corp.example", "example.com"]);
    assert_eq!(c.interface.mtu, Some(1380));
    assert_eq!(c.interface.listen_port, Some(51820));
    assert_eq!(c.peers.len(), 2);
    let p = &c.peers[0];
    assert_eq!(p.public_key.to_string(), PK1);
    assert_eq!(p.preshared_key.as_ref().unwrap().to_base64(), PSK);
    let allowed: Vec<String> = p.allowed_ips.iter().map(|a| a.to_string()).collect();
    assert_eq!(allowed, ["0.0.0.0/0", "::/0"]);
    assert_eq!(
        p.endpoint,
        Some(Endpoint::Addr("[fd00::1]:51820".parse().unwrap()))
    );
    assert_eq!(p.persistent_keepalive, Some(25));
    let q = &c.peers[1];
    let allowed: Vec<String> = q.allowed_ips.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        allowed,
        ["198.18.0.0/16", "198.19.0.0/24"],
        "host bits cleared"
    );
    assert_eq!(
        q.endpoint,
        Some(Endpoint::Name {
            host: "vpn.example.com".into(),
            port: 443
        })
    );
    assert_eq!(q.persistent_keepalive, None);
    assert!(q.preshared_key.is_none());
}

#[test]
fn keys_and_sections_are_case_insensitive() {
    let text = format!(
        "[interface]\nprivatekey={SK}\naddress=10.64.0.2/32\nlistenport = 1\n[PEER]\npublickey={PK1}\nallowedips=0.0.0.0/0\nendpoint=198.18.0.1:51820\n"
    );
    let c = parse(&text).unwrap().conf;
    assert_eq!(c.interface.listen_port, Some(1));
    assert_eq!(
        c.peers[0].endpoint,
        Some(Endpoint::Addr("198.18.0.1:51820".parse().unwrap()))
    );
}

#[test]
fn serialised_profile_parses_back_to_the_same() {
    let text = minimal(
        "DNS = 10.64.0.1, example.com\nMTU = 1400\nListenPort = 4000",
        &format!(
            "PresharedKey = {PSK}\nAllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = [fd00::1]:5\nPersistentKeepalive = 15\n[Peer]\nPublicKey = {PK2}\nEndpoint = vpn.example:1"
        ),
    );
    let parsed = parse(&text).unwrap();
    assert_eq!(parsed.warnings.len(), 1, "peer without AllowedIPs warns");
    let again = parse(&parsed.conf.to_wg_quick()).unwrap().conf;
    assert_eq!(again, parsed.conf);
}

#[test]
fn host_side_keys_are_warned_about_and_ignored() {
    let parsed = parse(&minimal(
        "PostUp = iptables -A FORWARD -i %i -j ACCEPT\nTable = off\nFwMark = 0x1\nSaveConfig = true\nPreUp = x\nPreDown = y\nPostDown = z",
        "AllowedIPs = 0.0.0.0/0",
    ))
    .unwrap();
    assert_eq!(parsed.warnings.len(), 7);
    assert_eq!(
        parsed.warnings[0],
        "work.conf line 4: PostUp is ignored: wg-wrap never runs commands or changes the host's network"
    );
}

#[test]
fn missing_private_key() {
    let e = err(&format!(
        "[Interface]\nAddress = 10.0.0.1/32\n[Peer]\nPublicKey = {PK1}\n"
    ));
    assert!(
        e.starts_with("work.conf line 1: [Interface] has no PrivateKey ("),
        "{e}"
    );
    assert!(e.contains("wg genkey"), "{e}");
}

#[test]
fn missing_address_public_key_interface_and_peer() {
    let e = err(&format!(
        "[Interface]\nPrivateKey = {SK}\n[Peer]\nPublicKey = {PK1}\n"
    ));
    assert!(
        e.starts_with("work.conf line 1: [Interface] has no Address ("),
        "{e}"
    );
    let e = err(&format!(
        "[Interface]\nPrivateKey = {SK}\nAddress = 10.0.0.1\n[Peer]\nAllowedIPs = 0.0.0.0/0\n"
    ));
    assert!(
        e.starts_with("work.conf line 4: [Peer] has no PublicKey ("),
        "{e}"
    );
    let e = err(&format!("[Peer]\nPublicKey = {PK1}\n"));
    assert!(e.starts_with("work.conf: no [Interface] section ("), "{e}");
    let e = err(&format!(
        "[Interface]\nPrivateKey = {SK}\nAddress = 10.0.0.1\n"
    ));
    assert!(e.starts_with("work.conf: no [Peer] section ("), "{e}");
}

#[test]
fn bad_base64() {
    let e = err(&minimal("", "").replace(PK1, "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8D!="));
    assert!(
        e.starts_with("work.conf line 6: PublicKey: is not base64 ("),
        "{e}"
    );
    assert!(e.contains("44 characters"), "{e}");
}

#[test]
fn key_of_wrong_length() {
    let e = err(&minimal("", "").replace(SK, "AAAA"));
    assert!(
        e.starts_with("work.conf line 2: PrivateKey: is 3 bytes long ("),
        "{e}"
    );
    let e = err(&minimal("", &format!("PresharedKey = {}", &PSK[..40])));
    assert!(e.contains("PresharedKey: is 30 bytes long"), "{e}");
}

#[test]
fn bad_address() {
    let e = err(&minimal("", "").replace("10.64.0.2/32", "10.64.0.256/32"));
    assert_eq!(
        e,
        "work.conf line 3: Address: \"10.64.0.256/32\" is not an IP address (expected e.g. 10.64.0.2/32 or fd00:64::2/128)"
    );
    let e = err(&minimal("", "AllowedIPs = 0.0.0.0/0, nonsense"));
    assert!(
        e.starts_with("work.conf line 7: AllowedIPs: \"nonsense\" is not an IP address ("),
        "{e}"
    );
    // Whitespace separates DNS items too (as wg-quick reads them).
    let e = err(&minimal("DNS = 10.0.0.1, not_a domain!", ""));
    assert!(
        e.starts_with("work.conf line 4: DNS: \"domain!\" is neither"),
        "{e}"
    );
}

#[test]
fn prefix_out_of_range() {
    let e = err(&minimal("", "AllowedIPs = 10.0.0.0/33"));
    assert!(
        e.starts_with(
            "work.conf line 7: AllowedIPs: \"10.0.0.0/33\": prefix length must be 0 to 32"
        ),
        "{e}"
    );
    let e = err(&minimal("", "").replace("10.64.0.2/32", "fd00::2/129"));
    assert!(e.contains("prefix length must be 0 to 128"), "{e}");
}

#[test]
fn bad_port() {
    for endpoint in [
        "198.18.0.1:0",
        "198.18.0.1:65536",
        "198.18.0.1:http",
        "198.18.0.1",
    ] {
        let e = err(&minimal("", &format!("Endpoint = {endpoint}")));
        assert!(e.starts_with("work.conf line 7: Endpoint: "), "{e}");
    }
    let e = err(&minimal("ListenPort = 70000", ""));
    assert!(
        e.starts_with("work.conf line 4: ListenPort: \"70000\" is not a port (1 to 65535)"),
        "{e}"
    );
    let e = err(&minimal("ListenPort = 0", ""));
    assert!(e.contains("ListenPort: \"0\" is not a port"), "{e}");
}

#[test]
fn bad_mtu_and_keepalive() {
    let e = err(&minimal("MTU = 500", ""));
    assert!(
        e.starts_with("work.conf line 4: MTU: \"500\" is not an MTU"),
        "{e}"
    );
    let e = err(&minimal("MTU = 70000", ""));
    assert!(e.contains("MTU: \"70000\" is not an MTU"), "{e}");
    assert!(parse(&minimal("MTU = 576", "AllowedIPs = 0.0.0.0/0")).is_ok());
    let e = err(&minimal("MTU = 1000", "AllowedIPs = ::/0"));
    assert!(e.contains("MTU: 1000 is too small for IPv6"), "{e}");
    assert!(parse(&minimal("MTU = 1280", "AllowedIPs = ::/0")).is_ok());
    let e = err(&minimal("", "PersistentKeepalive = soon"));
    assert!(
        e.contains("PersistentKeepalive: \"soon\" is not a number of seconds"),
        "{e}"
    );
}

#[test]
fn unknown_section_and_key() {
    let e = err(&format!("{}[Peers]\nPublicKey = {PK2}\n", minimal("", "")));
    assert!(
        e.starts_with("work.conf line 8: unknown section [Peers] ("),
        "{e}"
    );
    let e = err(&minimal("Port = 1", ""));
    assert!(
        e.starts_with("work.conf line 4: Port: not a [Interface] key ("),
        "{e}"
    );
    let e = err(&minimal("", "Table = off"));
    assert!(e.contains("Table: not a [Peer] key"), "{e}");
    let e = err(&format!("Address = 1.2.3.4\n{}", minimal("", "")));
    assert!(
        e.starts_with("work.conf line 1: Address: set outside any section"),
        "{e}"
    );
}

#[test]
fn repeated_single_keys_and_sections() {
    let e = err(&minimal(&format!("PrivateKey = {SK}"), ""));
    assert!(
        e.starts_with("work.conf line 4: PrivateKey: given twice"),
        "{e}"
    );
    let e = err(&format!("{}[Interface]\n", minimal("", "")));
    assert!(
        e.starts_with("work.conf line 8: a second [Interface] section"),
        "{e}"
    );
    let e = err(&format!("{}[Peer]\nPublicKey = {PK1}\n", minimal("", "")));
    assert!(e.contains("is listed twice"), "{e}");
    let own = SecretKey::parse(SK).unwrap().public_key();
    let e = err(&minimal("", "").replace(PK1, &own.to_string()));
    assert!(e.contains("this interface's own key"), "{e}");
}

#[test]
fn syntax_errors_name_the_line() {
    let e = err("[Interface]\nPrivateKey\n");
    assert!(
        e.starts_with("work.conf line 2: \"PrivateKey\" is not `Key = Value` ("),
        "{e}"
    );
    let e = err("[Interface\n");
    assert!(
        e.starts_with("work.conf line 1: \"[Interface\" is not a section header"),
        "{e}"
    );
    let e = err("[Interface]\nAddress: 10.0.0.1\n");
    assert!(e.starts_with("work.conf line 2: "), "{e}");
}

#[test]
fn empty_file() {
    for text in ["", "\n\n  \n"] {
        assert!(err(text).starts_with("work.conf: empty profile ("));
    }
    let e = err("# only a comment\n");
    assert!(e.starts_with("work.conf: no [Interface] section"), "{e}");
}

#[test]
fn binary_garbage() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let e = read_text(&garbage[..], "junk.bin").unwrap_err().to_string();
    assert_eq!(
        e,
        "junk.bin: not a text file (a WireGuard profile is a text file)"
    );
    let e = read_text(&b"[Interface]\0\n"[..], "nul.conf")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("nul.conf: not a text file"), "{e}");
    // Text that is UTF-8 but not a profile fails in the parser, naming the line.
    let e = err("\u{1F600}\u{1F600}\n");
    assert!(e.starts_with("work.conf line 1: "), "{e}");
}

/// A reader that never ends and counts what was taken from it.
struct Endless {
    taken: u64,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(b'#');
        self.taken += buf.len() as u64;
        Ok(buf.len())
    }
}

#[test]
fn over_one_mib_is_refused_without_reading_it_all() {
    let mut endless = Endless { taken: 0 };
    let e = read_text(&mut endless, "-").unwrap_err().to_string();
    assert!(e.starts_with("-: larger than 1 MiB ("), "{e}");
    assert!(
        endless.taken <= MAX_SIZE + 64 * 1024,
        "read {} bytes",
        endless.taken
    );

    // A huge (sparse) file is refused from its size alone.
    let dir = std::env::temp_dir().join(format!("wg-wrap-conf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.conf");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(1 << 40).unwrap();
    let e = read_file(&path).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(e.ends_with("huge.conf: larger than 1 MiB (a WireGuard profile is a few hundred bytes; is this the right file?)"), "{e}");

    let exactly = "#".repeat(MAX_SIZE as usize);
    assert!(read_text(exactly.as_bytes(), "-").is_ok());
}

#[test]
fn provider_files_as_wg_quick_takes_them() {
    // A byte-order mark, a comment after a header, whitespace-separated
    // Address and DNS (AirVPN, Windscribe, OpenWrt exports).
    let text = format!(
        "\u{feff}[Interface] # this machine\nPrivateKey = {SK}\nAddress = 198.19.10.20/32 fd00:1910::20/128\nDNS = 198.19.10.1 fd00:1910::1\n\n[Peer] # the one server\nPublicKey = {PK1}\nAllowedIPs = 0.0.0.0/0\nEndpoint = 198.51.100.1:51820\n"
    );
    let conf = parse(&text).unwrap().conf;
    assert_eq!(conf.interface.addresses.len(), 2);
    assert_eq!(conf.interface.dns.servers.len(), 2);
    assert_eq!(conf.peers.len(), 1);
}

#[test]
fn allowed_ips_separated_by_spaces_say_to_use_commas() {
    let text = minimal("", "AllowedIPs = 0.0.0.0/0 ::/0");
    assert_eq!(
        err(&text),
        "work.conf line 7: AllowedIPs: \"0.0.0.0/0 ::/0\" holds several networks (separate them with commas, e.g. 0.0.0.0/0, ::/0)"
    );
}
