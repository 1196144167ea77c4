//! The UDP calls rustix lacks, through libc: generic segmentation offload
//! (many equal-sized datagrams to one address in one `sendmsg`; the kernel
//! cuts the buffer every `segment` bytes, the last piece may be shorter),
//! GRO, and batched receives (`recvmmsg`).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Most segments the kernel takes in one GSO send (UDP_MAX_SEGMENTS).
pub const MAX_SEGMENTS: usize = 64;

/// Sends `buf` to `to` as datagrams of `segment` bytes.
pub fn send_segments(
    fd: BorrowedFd<'_>,
    buf: &[u8],
    segment: u16,
    to: SocketAddr,
) -> io::Result<usize> {
    let (addr, addr_len) = sockaddr(to);
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // Room for one cmsg holding a u16, aligned as cmsghdr wants.
    let mut control = [0u64; 4];
    // SAFETY: a zeroed msghdr is valid; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = &addr as *const libc::sockaddr_storage as *mut libc::c_void;
    msg.msg_namelen = addr_len;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as usize;
    // SAFETY: msg_control points at `control`, which is large enough for one
    // cmsg of a u16 (CMSG_SPACE(2) = 24 bytes <= 32), so CMSG_FIRSTHDR is non-null
    // and CMSG_DATA points inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut u16, segment);
    }
    // SAFETY: fd is an open socket; msg and everything it points to are valid for the call.
    let sent = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is a valid (AF_UNSPEC) value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// Readies the socket for the engine, best effort: the kernel coalesces
/// received datagrams of one flow (UDP_GRO, see [`recv_batch`]); buffers as
/// large as the host allows (`net.core.rmem_max`, `wmem_max`) absorb bursts
/// while the engine is off the CPU; sends block (never receives: those pass
/// MSG_DONTWAIT), but for at most a second.
pub fn tune(fd: BorrowedFd<'_>) {
    use rustix::net::sockopt;
    let on: libc::c_int = 1;
    // SAFETY: fd is an open socket; the option value is a c_int that lives for the call.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_GRO,
            &on as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    // The kernel caps these at the host's maximum.
    let _ = sockopt::set_socket_recv_buffer_size(fd, SOCKET_BUFFER);
    let _ = sockopt::set_socket_send_buffer_size(fd, SOCKET_BUFFER);
    let _ = sockopt::set_socket_timeout(fd, sockopt::Timeout::Send, Some(SEND_TIMEOUT));
    let _ = rustix::io::ioctl_fionbio(fd, false);
}

const SOCKET_BUFFER: usize = 4 << 20;
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Most datagrams one [`recv_batch`] takes.
pub const MAX_BATCH: usize = 32;

/// One received datagram, possibly coalesced by GRO from several.
#[derive(Clone, Copy)]
pub struct Received {
    /// Which slot of the buffer it is in.
    pub slot: usize,
    pub len: usize,
    pub from: SocketAddr,
    /// The size of the datagrams it is made of (its length when not coalesced).
    pub segment: usize,
}

/// Receives up to [`MAX_BATCH`] datagrams without waiting, in one
/// `recvmmsg`: datagram `i` into `buf[i * slot..]`, at most `slot` bytes.
/// Fills `got` with them; WouldBlock when none is waiting.
pub fn recv_batch(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    slot: usize,
    got: &mut Vec<Received>,
) -> io::Result<()> {
    got.clear();
    let count = (buf.len() / slot.max(1)).min(MAX_BATCH);
    // SAFETY: all-zero sockaddr_storage, iovec, mmsghdr are valid values.
    let mut addrs: [libc::sockaddr_storage; MAX_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let mut controls = [[0u64; 8]; MAX_BATCH];
    for (i, chunk) in buf.chunks_exact_mut(slot).take(count).enumerate() {
        iovs[i] = libc::iovec {
            iov_base: chunk.as_mut_ptr() as *mut libc::c_void,
            iov_len: chunk.len(),
        };
        let hdr = &mut msgs[i].msg_hdr;
        hdr.msg_name = &mut addrs[i] as *mut libc::sockaddr_storage as *mut libc::c_void;
        hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdr.msg_iov = &mut iovs[i];
        hdr.msg_iovlen = 1;
        hdr.msg_control = controls[i].as_mut_ptr() as *mut libc::c_void;
        hdr.msg_controllen = std::mem::size_of_val(&controls[i]);
    }
    // SAFETY: fd is an open socket; the first `count` headers point at
    // buffers, addresses and control space that outlive the call.
    let n = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            msgs.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    for i in 0..n as usize {
        let len = msgs[i].msg_len as usize;
        let Some(from) = socket_addr(&addrs[i]) else {
            continue; // not an address family a peer can have
        };
        let segment = gro_segment(&msgs[i].msg_hdr).unwrap_or(len);
        got.push(Received {
            slot: i,
            len,
            from,
            segment,
        });
    }
    Ok(())
}

/// The segment size a UDP_GRO control message gives, if any.
fn gro_segment(msg: &libc::msghdr) -> Option<usize> {
    let mut segment = None;
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of
    // well-formed cmsgs; CMSG_FIRSTHDR/NXTHDR stay within them.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_UDP && (*cmsg).cmsg_type == libc::UDP_GRO {
                let size = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::c_int);
                if size > 0 {
                    segment = Some(size as usize);
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    segment
}

fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::new(ip.into(), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
