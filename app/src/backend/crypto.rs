//! Secrets at rest (TOTP secrets first): AES-256-GCM under a key derived from a configured
//! secret by HKDF-SHA256, with a purpose label as HKDF's `info`, so that one configured
//! secret yields unrelated keys for unrelated uses and a ciphertext of one purpose never
//! decrypts under another.
//!
//! # Layout, version 1
//!
//! `0x01 ‖ nonce (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)`. The version byte is also
//! the associated data, so it cannot be changed without the tag failing. Random 96-bit nonces
//! are safe for far more than the 2^32 encryptions NIST allows under one key; a TOTP secret
//! is encrypted once per enrolment.
//!
//! Changing the configured secret makes every stored ciphertext unreadable: rotating it needs
//! a re-encryption, or a new version byte that names the key.

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Key, Nonce,
};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

/// The first byte of everything [`encrypt`] produces.
pub const VERSION: u8 = 1;
/// The HKDF purpose label of TOTP secrets.
pub const TOTP_PURPOSE: &str = "deltran totp v1";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("ciphertext too short")]
    TooShort,
    #[error("unknown ciphertext version {0}")]
    UnknownVersion(u8),
    /// Wrong key, wrong purpose or altered bytes: GCM cannot tell which.
    #[error("ciphertext does not authenticate")]
    Invalid,
}

fn cipher(key_material: &str, purpose: &str) -> Aes256Gcm {
    // No salt: the configured secret is already high-entropy (32+ random characters, checked
    // by `Config::validate_secrets`), which is where RFC 5869 lets the salt go.
    let hkdf = Hkdf::<Sha256>::new(None, key_material.as_bytes());
    let mut key = [0u8; 32];
    hkdf.expand(purpose.as_bytes(), &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key))
}

/// Encrypts `plaintext` under the key for `purpose` derived from `key_material`, with a fresh
/// random nonce: encrypting the same plaintext twice gives different bytes.
pub fn encrypt(key_material: &str, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher(key_material, purpose)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &[VERSION],
            },
        )
        .expect("AES-GCM encrypts any plaintext shorter than 64 GiB");
    let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Decrypts what [`encrypt`] produced with the same key material and purpose.
pub fn decrypt(key_material: &str, purpose: &str, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (&version, rest) = data.split_first().ok_or(CryptoError::TooShort)?;
    if version != VERSION {
        return Err(CryptoError::UnknownVersion(version));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::TooShort);
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    cipher(key_material, purpose)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: &[VERSION],
            },
        )
        .map_err(|_| CryptoError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef-test-key";

    #[test]
    fn round_trip_with_the_documented_layout() {
        let plain = b"twenty bytes secret!";
        let sealed = encrypt(KEY, TOTP_PURPOSE, plain);
        assert_eq!(sealed[0], VERSION);
        assert_eq!(sealed.len(), 1 + NONCE_LEN + plain.len() + TAG_LEN);
        assert_eq!(decrypt(KEY, TOTP_PURPOSE, &sealed).unwrap(), plain);
        assert_eq!(
            decrypt(KEY, TOTP_PURPOSE, &encrypt(KEY, TOTP_PURPOSE, b"")).unwrap(),
            b""
        );
    }

    #[test]
    fn every_flipped_bit_fails() {
        let sealed = encrypt(KEY, TOTP_PURPOSE, b"secret");
        for i in 0..sealed.len() * 8 {
            let mut bad = sealed.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(decrypt(KEY, TOTP_PURPOSE, &bad).is_err(), "bit {i}");
        }
    }

    #[test]
    fn another_key_or_purpose_fails() {
        let sealed = encrypt(KEY, TOTP_PURPOSE, b"secret");
        assert_eq!(
            decrypt(
                "another key of enough length, 32+ chars",
                TOTP_PURPOSE,
                &sealed
            ),
            Err(CryptoError::Invalid)
        );
        assert_eq!(
            decrypt(KEY, "deltran other v1", &sealed),
            Err(CryptoError::Invalid)
        );
    }

    #[test]
    fn nonces_differ() {
        let a = encrypt(KEY, TOTP_PURPOSE, b"secret");
        let b = encrypt(KEY, TOTP_PURPOSE, b"secret");
        assert_ne!(a[1..1 + NONCE_LEN], b[1..1 + NONCE_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn short_and_unknown_inputs_are_named() {
        assert_eq!(decrypt(KEY, TOTP_PURPOSE, &[]), Err(CryptoError::TooShort));
        assert_eq!(
            decrypt(KEY, TOTP_PURPOSE, &[VERSION; 28]),
            Err(CryptoError::TooShort)
        );
        let mut sealed = encrypt(KEY, TOTP_PURPOSE, b"secret");
        sealed[0] = 2;
        assert_eq!(
            decrypt(KEY, TOTP_PURPOSE, &sealed),
            Err(CryptoError::UnknownVersion(2))
        );
    }
}
