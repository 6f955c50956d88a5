//! Recovery codes: one-time codes that stand in for a TOTP code when the authenticator is
//! lost. Ten per user, shown once, stored only as hashes (`deltran.recovery_codes`).
//!
//! A code is 10 characters of Crockford's base32 alphabet (digits and lower-case letters
//! without i, l, o and u), written `xxxx-xxxx-xx`: 50 random bits. Reading is forgiving in
//! Crockford's way: case, dashes and spaces are ignored, and o, i and l read as 0, 1 and 1.

use std::collections::BTreeSet;

use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How many codes a user gets at a time.
pub const COUNT: usize = 10;
/// Characters per code, without the dashes. Each carries 5 bits.
pub const LENGTH: usize = 10;
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// [`COUNT`] new, distinct codes, formatted `xxxx-xxxx-xx`.
pub fn recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    let mut codes = BTreeSet::new();
    while codes.len() < COUNT {
        let raw: String = (0..LENGTH)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        codes.insert(format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..]));
    }
    codes.into_iter().collect()
}

/// The canonical form of a code as typed (10 alphabet characters, no dashes), or `None` if it
/// cannot be one.
pub fn normalise(code: &str) -> Option<String> {
    let mut out = String::with_capacity(LENGTH);
    for c in code.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' => continue,
            c if c.is_whitespace() => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
    }
    (out.len() == LENGTH).then_some(out)
}

/// The stored form of `user_id`'s code: SHA-256 of `<user id>:<canonical code>` in lower-case
/// hex, or `None` if `code` is not a code.
///
/// A fast hash is enough here, unlike for passwords: the codes are 50 random bits, not chosen
/// by people, so there is no dictionary to try first, and a fast hash can be looked up by
/// value (`UNIQUE (user_id, code_hash)`) where a salted slow one would have to be checked
/// against each of the user's codes in turn. Inverting one stolen hash still takes about 2^49
/// SHA-256 evaluations, hours on a GPU; hashing the user id in keeps one search from matching
/// every user's codes at once. A recovered code only replaces the second factor: the password
/// is still needed.
pub fn hash(user_id: Uuid, code: &str) -> Option<String> {
    normalise(code).map(|c| hex::encode(Sha256::digest(format!("{user_id}:{c}").as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_in_the_documented_form() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), COUNT);
        assert_eq!(codes.iter().collect::<BTreeSet<_>>().len(), COUNT);
        for code in &codes {
            assert_eq!(code.len(), 12, "{code}");
            assert_eq!(&code[4..5], "-");
            assert_eq!(&code[9..10], "-");
            assert!(code.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));
            assert_eq!(normalise(code).unwrap(), code.replace('-', ""));
        }
        assert_ne!(recovery_codes(), codes);
    }

    #[test]
    fn the_alphabet_has_32_unambiguous_characters() {
        assert_eq!(ALPHABET.iter().collect::<BTreeSet<_>>().len(), 32);
        for c in b"ilou" {
            assert!(!ALPHABET.contains(c));
        }
    }

    #[test]
    fn typing_is_forgiving_but_the_hash_is_exact() {
        let user = Uuid::new_v4();
        let h = hash(user, "ab12-cd34-ef").unwrap();
        assert_eq!(h.len(), 64);
        assert!(h
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(hash(user, " AB12 CD34 EF ").as_deref(), Some(h.as_str()));
        assert_eq!(hash(user, "ab12cd34ef").as_deref(), Some(h.as_str()));
        assert_eq!(normalise("OIL0-0000-00").unwrap(), "0110000000");
        assert_ne!(hash(user, "ab12-cd34-eg").as_deref(), Some(h.as_str()));
        assert_ne!(hash(Uuid::new_v4(), "ab12-cd34-ef"), Some(h), "per user");
        assert_eq!(hash(user, "ab12-cd34-e"), None, "too short");
        assert_eq!(hash(user, "ab12-cd34-eff"), None, "too long");
        assert_eq!(hash(user, "ab12-cd34-eu"), None, "u is not in the alphabet");
        assert_eq!(hash(user, "ab12-cd34-é1"), None);
    }

    #[test]
    fn the_hash_is_sha256_of_user_and_canonical_code() {
        let user = Uuid::nil();
        assert_eq!(
            hash(user, "AB12-CD34-EF").unwrap(),
            hex::encode(Sha256::digest(
                b"00000000-0000-0000-0000-000000000000:ab12cd34ef"
            ))
        );
    }
}
