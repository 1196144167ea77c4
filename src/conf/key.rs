//! WireGuard keys: base64 of exactly 32 bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

/// A key as written in a profile: 44 base64 characters, 32 bytes.
fn decode(text: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| "is not base64".to_string())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| format!("is {} bytes long", bytes.len()))
}

/// The fix shown with every key error.
pub const KEY_HINT: &str =
    "a WireGuard key is 32 bytes in base64: 44 characters ending in '=', as `wg genkey` prints";

/// A private or preshared key. Never printed: no `Display`, and `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub fn parse(text: &str) -> Result<Self, String> {
        decode(text).map(SecretKey)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Base64, for the wg-quick text handed down the chain in a sealed memfd.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl SecretKey {
    /// A new random private key (clamped by X25519 when used).
    pub fn generate() -> std::io::Result<Self> {
        let mut bytes = [0u8; 32];
        let mut filled = 0;
        while filled < bytes.len() {
            filled += rustix::rand::getrandom(
                &mut bytes[filled..],
                rustix::rand::GetRandomFlags::empty(),
            )?;
        }
        Ok(SecretKey(bytes))
    }

    /// The public key that goes with this private key.
    pub fn public_key(&self) -> PublicKey {
        use boringtun::x25519;
        PublicKey(x25519::PublicKey::from(&x25519::StaticSecret::from(self.0)).to_bytes())
    }
}

impl Drop for SecretKey {
    /// A key is zeroed wherever it is dropped: the profile read on the host,
    /// wg-up's copy once the engine has its own, the engine's once boringtun has it.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(hidden)")
    }
}

/// A peer's public key, shown in base64.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    pub fn parse(text: &str) -> Result<Self, String> {
        decode(text).map(PublicKey)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PublicKey(bytes)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_reject_wrong_lengths() {
        let text = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
        assert_eq!(PublicKey::parse(text).unwrap().to_string(), text);
        assert_eq!(SecretKey::parse(text).unwrap().to_base64(), text);
        assert_eq!(
            PublicKey::parse("AAAA").unwrap_err(),
            "is 3 bytes long".to_string()
        );
        assert_eq!(
            PublicKey::parse("not base64!").unwrap_err(),
            "is not base64"
        );
        assert_eq!(
            format!("{:?}", SecretKey::parse(text).unwrap()),
            "SecretKey(hidden)"
        );
    }
}
