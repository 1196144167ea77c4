//! The crypto floor: CPU seconds to seal and open a GB of 1420-byte packets
//! with the AEAD the engine uses (boringtun's, i.e. ring's
//! ChaCha20-Poly1305), on this CPU. benches/tunnel.sh prints each engine's
//! CPU per GB moved as a multiple of this: what a tunnel costs beyond the
//! cipher both of its ends must run.
//!
//!   cargo bench --bench crypto_floor      # prints "floor S s/GB"

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use std::time::Instant;

const PACKET: usize = 1420;
const TOTAL: usize = 2 << 30;

fn cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn main() {
    let key =
        LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7u8; 32]).expect("a 32-byte key"));
    let mut packet = vec![0x5au8; PACKET];
    let rounds = TOTAL / PACKET;
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    for counter in 0..rounds as u64 {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&counter.to_le_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut packet,
            )
            .expect("seal");
        packet.extend_from_slice(tag.as_ref());
        let opened = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut packet,
            )
            .expect("open")
            .len();
        packet.truncate(opened);
    }
    let gb = (rounds * PACKET) as f64 / 1e9;
    let spent = cpu_seconds() - cpu;
    println!(
        "floor {:.3} s/GB (seal and open, {PACKET}-byte packets, {:.2} GB in {:.2} s)",
        spent / gb,
        gb,
        wall.elapsed().as_secs_f64()
    );
}
