//! rtnetlink, blocking and one request at a time: links up, addresses, routes.
//!
//! Only requests are built with netlink-packet-route; the kernel's answer is
//! an ACK or an errno, read by hand (deserializing every message type would
//! double the binary).

use crate::conf::IpNet;
use crate::error::{Error, Result};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use std::io;
use std::net::IpAddr;

/// Interface index of `lo` in a new network namespace.
pub const LOOPBACK_INDEX: u32 = 1;

pub struct Netlink {
    sock: Socket,
    seq: u32,
}

impl Netlink {
    pub fn open() -> Result<Netlink> {
        let fail = |e| Error::sys("open a netlink socket", e);
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(fail)?;
        sock.bind_auto().map_err(fail)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(fail)?;
        Ok(Netlink { sock, seq: 0 })
    }

    fn request(&mut self, msg: RouteNetlinkMessage, extra_flags: u16) -> io::Result<()> {
        self.seq += 1;
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | NLM_F_ACK | extra_flags;
        hdr.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        loop {
            let (reply, _) = self.sock.recv_from_full()?;
            // struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }
            // then, for NLMSG_ERROR (2), an i32 errno (0 = ACK).
            if reply.len() < 20 {
                return Err(io::Error::other("short netlink reply"));
            }
            let kind = u16::from_ne_bytes([reply[4], reply[5]]);
            let seq = u32::from_ne_bytes([reply[8], reply[9], reply[10], reply[11]]);
            if kind != 2 || seq != self.seq {
                continue;
            }
            let errno = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
            return match errno {
                0 => Ok(()),
                e => Err(io::Error::from_raw_os_error(-e)),
            };
        }
    }

    pub fn link_up(&mut self, index: u32) -> Result<()> {
        self.set_link_up(index, None)
    }

    /// Brings a link up with a transmit queue of `queue` packets.
    pub fn link_up_with_queue(&mut self, index: u32, queue: u32) -> Result<()> {
        self.set_link_up(index, Some(queue))
    }

    fn set_link_up(&mut self, index: u32, queue: Option<u32>) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.extend(queue.map(LinkAttribute::TxQueueLen));
        self.request(RouteNetlinkMessage::SetLink(m), 0)
            .map_err(|e| Error::sys("bring the interface up", e))
    }

    pub fn add_address(&mut self, index: u32, net: IpNet) -> Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = family(net.addr);
        m.header.prefix_len = net.prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(net.addr));
        m.attributes.push(AddressAttribute::Address(net.addr));
        if net.is_ipv6() {
            // No duplicate address detection: nothing else is on this link.
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(Error::sys(format_args!("add address {net}"), e)),
        }
    }

    /// A device route for `net` through `index`; one the kernel already made
    /// (for an address's prefix) counts as done.
    pub fn add_route(&mut self, index: u32, net: IpNet) -> Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = family(net.addr);
        m.header.destination_prefix_length = net.prefix;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Static;
        m.header.scope = RouteScope::Link;
        m.header.kind = RouteType::Unicast;
        let dest = match net.addr {
            IpAddr::V4(a) => RouteAddress::Inet(a),
            IpAddr::V6(a) => RouteAddress::Inet6(a),
        };
        m.attributes.push(RouteAttribute::Destination(dest));
        m.attributes.push(RouteAttribute::Oif(index));
        match self.request(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_EXCL) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(Error::sys(format_args!("add route {net}"), e)),
        }
    }
}

fn family(addr: IpAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}
