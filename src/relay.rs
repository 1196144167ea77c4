//! The port relay: a process of its own inside the namespace (forked by the
//! engine, killed with it) that serves the published ports' host sockets
//! and connects each client to PROG's port on the namespace's loopback.
//! Many connections meet here, so it runs on smol, an async runtime, with no
//! thread per connection; the engine keeps its own epoll loop.
//!
//! TCP: at most [`MAX_CONNECTIONS`] at once per port (further clients wait
//! in the listen queue). UDP: one socket inside per client address, at most
//! [`MAX_UDP_CLIENTS`], each forgotten after [`UDP_IDLE`] without traffic.

use crate::publish::{Proto, Published};
use smol::Async;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const MAX_CONNECTIONS: usize = 512;
pub const MAX_UDP_CLIENTS: usize = 256;
pub const UDP_IDLE: Duration = Duration::from_secs(60);

/// Serves `published` until the process is killed.
pub fn run(published: Vec<Published>) {
    smol::block_on(async {
        let tasks: Vec<_> = published
            .into_iter()
            .map(|p| match p.proto {
                Proto::Tcp => smol::spawn(tcp(p.socket.into(), p.port)),
                Proto::Udp => smol::spawn(udp(p.socket.into(), p.port)),
            })
            .collect();
        for task in tasks {
            task.await;
        }
    });
}

async fn tcp(listener: std::net::TcpListener, port: u16) {
    let Ok(listener) = Async::new(listener) else {
        return;
    };
    let slots = Arc::new(smol::lock::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = slots.acquire_arc().await;
        match listener.accept().await {
            Ok((client, _)) => smol::spawn(async move {
                splice(client, port).await;
                drop(slot);
            })
            .detach(),
            // Out of descriptors, or a client gone before accept: a moment, then on.
            Err(_) => {
                smol::Timer::after(Duration::from_millis(50)).await;
            }
        }
    }
}

/// PROG's port on the namespace's loopback, IPv4 then IPv6.
async fn connect_inside(port: u16) -> std::io::Result<Async<TcpStream>> {
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match Async::<TcpStream>::connect(v4).await {
        Ok(stream) => Ok(stream),
        Err(_) => Async::<TcpStream>::connect(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).await,
    }
}

async fn splice(client: Async<TcpStream>, port: u16) {
    let Ok(inner) = connect_inside(port).await else {
        return;
    };
    smol::future::zip(one_way(&client, &inner), one_way(&inner, &client)).await;
}

/// Copies until `from` ends, then ends `to`'s writing half (a half-closed
/// connection stays half-open, as without the relay).
async fn one_way(from: &Async<TcpStream>, to: &Async<TcpStream>) {
    let mut writer = to;
    let _ = smol::io::copy(from, &mut writer).await;
    let _ = to.get_ref().shutdown(Shutdown::Write);
}

type Clients = Arc<Mutex<HashMap<SocketAddr, Arc<Async<UdpSocket>>>>>;

async fn udp(socket: UdpSocket, port: u16) {
    let Ok(outer) = Async::new(socket) else {
        return;
    };
    let outer = Arc::new(outer);
    let clients: Clients = Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((len, from)) = outer.recv_from(&mut buf).await else {
            continue;
        };
        let known = clients.lock().ok().and_then(|c| c.get(&from).cloned());
        let inner = match known {
            Some(inner) => inner,
            None => match new_client(&clients, &outer, from, port) {
                Some(inner) => inner,
                None => continue,
            },
        };
        let _ = inner.send(&buf[..len]).await;
    }
}

/// A socket inside for a new client, and the task that carries PROG's
/// answers back to it; None (the datagram is dropped) at the limit.
fn new_client(
    clients: &Clients,
    outer: &Arc<Async<UdpSocket>>,
    from: SocketAddr,
    port: u16,
) -> Option<Arc<Async<UdpSocket>>> {
    let mut map = clients.lock().ok()?;
    if map.len() >= MAX_UDP_CLIENTS {
        return None;
    }
    let inner = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    inner.connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    let inner = Arc::new(Async::new(inner).ok()?);
    map.insert(from, inner.clone());
    let (clients, outer, back) = (clients.clone(), outer.clone(), inner.clone());
    smol::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            let received = smol::future::or(async { Some(back.recv(&mut buf).await) }, async {
                smol::Timer::after(UDP_IDLE).await;
                None
            })
            .await;
            match received {
                Some(Ok(len)) => {
                    let _ = outer.send_to(&buf[..len], from).await;
                }
                // Idle, or PROG's port refused: forget the client.
                _ => break,
            }
        }
        if let Ok(mut map) = clients.lock() {
            map.remove(&from);
        }
    })
    .detach();
    Some(inner)
}

/// Forks the relay (the engine is single-threaded); returns its pid. The
/// child dies with the engine (PR_SET_PDEATHSIG) and holds nothing else.
pub fn spawn(published: Vec<Published>) -> crate::Result<u32> {
    use rustix::fd::AsRawFd;
    let engine = rustix::process::getpid();
    let pid = crate::process::fork("the port relay", move || {
        let _ =
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
        if rustix::process::getppid() != Some(engine) {
            return 0;
        }
        let keep: Vec<_> = published.iter().map(|p| p.socket.as_raw_fd()).collect();
        crate::process::close_all_but(&keep);
        let _ = crate::caps::keep_only(rustix::thread::CapabilitySet::empty());
        run(published);
        0
    })?;
    Ok(pid as u32)
}
