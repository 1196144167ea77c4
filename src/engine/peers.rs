//! The peers and their AllowedIPs: cryptokey routing, independent of any I/O.

use super::core::Received;
use crate::conf::{Conf, IpNet, PublicKey};
use boringtun::noise::Tunn;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::x25519::{PublicKey as XPublic, StaticSecret};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub struct Peer {
    pub tunn: Tunn,
    pub public_key: PublicKey,
    pub endpoint: Option<SocketAddr>,
    /// As the profile gives them, for the status socket.
    pub allowed_ips: Vec<IpNet>,
    /// When the last handshake completed, on the core's clock (boringtun
    /// forgets it once the session expires).
    pub handshake_at: Option<std::time::Duration>,
    /// The peer's initiation was answered; its first data packet confirms it.
    pub awaiting_confirmation: bool,
    /// When the core last restarted the handshakes of this expired peer.
    pub revived_at: Option<std::time::Duration>,
    /// Bytes of WireGuard datagrams taken from and sent to this peer (data,
    /// keepalives and handshakes, as `wg show` counts them).
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// Every peer, and the AllowedIPs table mapping networks to peers.
pub struct Peers {
    pub list: Vec<Peer>,
    /// (network, peer) by descending prefix length: the first match is the
    /// longest prefix. A network given to two peers belongs to the last.
    routes: Vec<(IpNet, usize)>,
    pub static_secret: StaticSecret,
    pub static_public: XPublic,
}

/// Highest peer count: a Tunn index is 24 bits.
pub const MAX_PEERS: usize = 1 << 20;

impl Peers {
    /// The peers of `conf`, sharing `limiter` (boringtun's handshake rate
    /// limiter) when given; each has its own otherwise.
    pub fn new(conf: &Conf, limiter: Option<Arc<RateLimiter>>) -> Peers {
        let static_secret = StaticSecret::from(*conf.interface.private_key.bytes());
        let static_public = XPublic::from(&static_secret);
        let list = conf
            .peers
            .iter()
            .take(MAX_PEERS)
            .enumerate()
            .map(|(index, p)| Peer {
                tunn: Tunn::new(
                    static_secret.clone(),
                    XPublic::from(*p.public_key.bytes()),
                    p.preshared_key.as_ref().map(|k| *k.bytes()),
                    p.persistent_keepalive,
                    index as u32,
                    limiter.clone(),
                ),
                public_key: p.public_key,
                endpoint: match &p.endpoint {
                    Some(crate::conf::Endpoint::Addr(addr)) => Some(*addr),
                    _ => None,
                },
                allowed_ips: p.allowed_ips.clone(),
                handshake_at: None,
                rx_bytes: 0,
                tx_bytes: 0,
                awaiting_confirmation: false,
                revived_at: None,
            })
            .collect();
        let mut routes: Vec<(IpNet, usize)> = Vec::new();
        for (index, peer) in conf.peers.iter().enumerate() {
            for net in &peer.allowed_ips {
                routes.retain(|(n, _)| n != net);
                routes.push((*net, index));
            }
        }
        routes.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix));
        Peers {
            list,
            routes,
            static_secret,
            static_public,
        }
    }

    /// The peer whose AllowedIPs hold `ip` most specifically.
    pub fn route(&self, ip: IpAddr) -> Option<usize> {
        self.routes
            .iter()
            .find(|(net, _)| net.contains(ip))
            .map(|(_, peer)| *peer)
    }

    /// True when a packet from inner source `ip` may come from peer `index`.
    pub fn allows(&self, index: usize, ip: IpAddr) -> bool {
        self.route(ip) == Some(index)
    }

    /// A decrypted packet of `len` bytes from inner source `ip`, sent by peer
    /// `index`: for the TUN, or dropped when outside its AllowedIPs.
    pub fn check(&self, index: usize, len: usize, ip: IpAddr) -> Received {
        if self.allows(index, ip) {
            Received::Tunnel(len)
        } else {
            Received::Nothing
        }
    }

    /// The peer a handshake initiation comes from, by its static key.
    pub fn by_public_key(&self, key: &[u8; 32]) -> Option<usize> {
        self.list.iter().position(|p| p.public_key.bytes() == key)
    }

    /// The peer a response, cookie or data packet is for.
    pub fn by_receiver(&self, receiver_idx: u32) -> Option<usize> {
        let index = (receiver_idx >> 8) as usize;
        (index < self.list.len()).then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf() -> Conf {
        let text = "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nAddress = 10.0.0.2/32\n\
            [Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nAllowedIPs = 0.0.0.0/0, 198.18.7.0/24\n\
            [Peer]\nPublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\nAllowedIPs = 198.18.0.0/16, fd00::/8, 198.18.7.0/24\n";
        Conf::parse(text, "t.conf").unwrap().conf
    }

    #[test]
    fn longest_prefix_wins_and_the_last_peer_owns_a_shared_prefix() {
        let peers = Peers::new(&conf(), None);
        assert_eq!(peers.route("1.2.3.4".parse().unwrap()), Some(0));
        assert_eq!(peers.route("198.18.3.4".parse().unwrap()), Some(1));
        assert_eq!(peers.route("198.18.7.9".parse().unwrap()), Some(1));
        assert_eq!(peers.route("fd00::9".parse().unwrap()), Some(1));
        assert_eq!(peers.route("2001:db8::1".parse().unwrap()), None);
        assert!(peers.allows(0, "8.8.8.8".parse().unwrap()));
        assert!(!peers.allows(0, "198.18.1.1".parse().unwrap()));
        assert!(!peers.allows(1, "8.8.8.8".parse().unwrap()));
        assert_eq!(peers.by_receiver(1 << 8 | 0x42), Some(1));
        assert_eq!(peers.by_receiver(2 << 8), None);
    }
}
