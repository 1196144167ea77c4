//! The engine's inbound path on arbitrary datagrams from an attacker's
//! address, while a real session between the client A and its server B is
//! up: the core never panics, nothing unauthenticated reaches A's TUN or
//! moves B's endpoint, A answers the attacker with nothing but cookie
//! replies, and A's session still carries B's data afterwards.
//!
//! The input is a list of operations, each a length byte, an op byte and that
//! many bytes: op 0 sends the bytes as they are; op 1 first gives them a
//! valid mac1 for A's key (so they get past WireGuard's first check, as
//! anyone knowing A's public key can); op 2 replays one of the session's
//! real datagrams with the bytes XORed over its start.
#![no_main]

use blake2::digest::{FixedOutput, Mac, Update};
use blake2::{Blake2s256, Blake2sMac, Digest};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::Duration;
use wg_wrap::conf::Conf;
use wg_wrap::engine::core::{Core, Received};

const A: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
const A_PUBLIC: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
const B: &str = "aOLhkMj3XMHru+hvkjXwFj6RNDU+hzVJHp8GCb9yVGU=";
const B_PUBLIC: &str = "wCo/kmZ4hlFyH+4OsXSUzOjy+OVHBqE4eKrjyQUilhE=";

fn conf(own: &str, peer: &str, extra: &str) -> Conf {
    let text = format!(
        "[Interface]\nPrivateKey = {own}\nAddress = 198.19.0.2/32\n\
         [Peer]\nPublicKey = {peer}\nAllowedIPs = 198.19.0.0/24\n{extra}"
    );
    Conf::parse(&text, "fuzz.conf").expect("a valid profile").conf
}

fn mac1(public: &[u8], msg: &[u8]) -> [u8; 16] {
    let key: [u8; 32] = Blake2s256::new()
        .chain_update(b"mac1----")
        .chain_update(public)
        .finalize()
        .into();
    let mut mac = <Blake2sMac<blake2::digest::consts::U16> as Mac>::new_from_slice(&key).unwrap();
    Update::update(&mut mac, msg);
    mac.finalize_fixed().into()
}

/// An IPv4 packet from 198.19.0.1 to 198.19.0.2.
fn packet() -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x45;
    p[3] = 40;
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[198, 19, 0, 1]);
    p[16..20].copy_from_slice(&[198, 19, 0, 2]);
    p
}

fuzz_target!(|data: &[u8]| {
    let now = Duration::from_secs(1000);
    let a_at: SocketAddr = "198.18.0.2:40000".parse().unwrap();
    let b_at: SocketAddr = "198.18.0.1:51820".parse().unwrap();
    let attacker: SocketAddr = "198.18.0.66:6666".parse().unwrap();
    let mut a = Core::new(&conf(A, B_PUBLIC, "Endpoint = 198.18.0.1:51820\n"), now);
    let mut b = Core::new(&conf(B, A_PUBLIC, ""), now);
    let (mut out, mut scratch) = (vec![0u8; 4096], vec![0u8; 4096]);
    // The session: A's initiation, B's response, A's keepalive, B's data.
    let mut recorded = Vec::new();
    let mut init = Vec::new();
    a.tick(&mut out, |bytes, _| init = bytes.to_vec());
    recorded.push(init.clone());
    let Received::Reply { len, .. } = b.datagram(a_at, &init, &mut out) else {
        panic!("B did not answer A's initiation");
    };
    let response = out[..len].to_vec();
    recorded.push(response.clone());
    let Received::Reply { len, .. } = a.datagram(b_at, &response, &mut out) else {
        panic!("A did not complete the handshake");
    };
    let keepalive = out[..len].to_vec();
    assert_eq!(b.datagram(a_at, &keepalive, &mut out), Received::Nothing);
    recorded.push(keepalive);
    let (len, _) = b.encapsulate(&packet(), &mut out).expect("B encrypts");
    let first = out[..len].to_vec();
    assert_eq!(a.datagram(b_at, &first, &mut out), Received::Tunnel(40));
    recorded.push(first);

    let endpoint = a.peers().list[0].endpoint;
    let mut rest = data;
    while let [len, op, tail @ ..] = rest {
        let len = (*len as usize).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        let mut datagram = match op % 3 {
            2 => recorded[bytes.first().map_or(0, |i| *i as usize) % recorded.len()].clone(),
            _ => bytes.to_vec(),
        };
        match op % 3 {
            1 if datagram.len() >= 32 => {
                let at = datagram.len() - 32;
                let mac = mac1(&public(A_PUBLIC), &datagram[..at]);
                datagram[at..at + 16].copy_from_slice(&mac);
            }
            2 => datagram.iter_mut().zip(bytes.iter().skip(1)).for_each(|(d, x)| *d ^= x),
            _ => {}
        }
        match a.datagram(attacker, &datagram, &mut out) {
            Received::Nothing => {}
            Received::Tunnel(_) => panic!("an attacker's datagram reached the TUN"),
            Received::Reply { len, to, flush } => {
                assert_eq!((out[0], len, to, flush), (3, 64, attacker, None), "not a cookie reply");
            }
        }
        assert_eq!(a.peers().list[0].endpoint, endpoint, "the endpoint moved");
    }
    // The session still carries B's data.
    let (len, _) = b.encapsulate(&packet(), &mut scratch).expect("B encrypts");
    assert_eq!(a.datagram(b_at, &scratch[..len], &mut out), Received::Tunnel(40));
});

fn public(base64: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(base64).unwrap()
}
