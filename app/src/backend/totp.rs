//! Time-based one-time passwords (RFC 6238 with HMAC-SHA1, 30-second steps, 6 digits: what
//! every authenticator app supports), the `otpauth://` URI those apps scan, and its QR code,
//! rendered here as SVG so that the secret never reaches a third-party service.
//!
//! Secrets are 20 random bytes (the 160 bits RFC 4226 recommends) and are shown to people as
//! base32 (RFC 4648, upper case, no padding). At rest they are encrypted (`backend::crypto`).

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The length of a time step in seconds.
pub const STEP_SECONDS: i64 = 30;
/// The number of digits in a code.
pub const DIGITS: u32 = 6;
/// How many steps either side of the current one a code may come from: it covers clock drift
/// and the seconds it takes to type a code, and keeps the odds of guessing at 3 in a million.
pub const WINDOW: i64 = 1;
/// The issuer authenticator apps show next to the account.
pub const ISSUER: &str = "DelTran Console";
/// The length of a generated secret in bytes.
pub const SECRET_LEN: usize = 20;

/// A new random secret of [`SECRET_LEN`] bytes.
pub fn generate_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_LEN];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// The time step `unix_time` (seconds) falls in.
pub fn step_at(unix_time: i64) -> i64 {
    unix_time.div_euclid(STEP_SECONDS)
}

/// The RFC 4226 HOTP value of `counter`, `digits` long (at most 9), zero-padded.
fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    debug_assert!((1..=9).contains(&digits));
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    // Dynamic truncation (RFC 4226 §5.3).
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let bytes: [u8; 4] = hash[offset..offset + 4].try_into().expect("4 bytes");
    let binary = u32::from_be_bytes(bytes) & 0x7fff_ffff;
    let code = u64::from(binary) % 10u64.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// The code of the step `step`; steps before 1970 count as step 0.
fn code_of_step(secret: &[u8], step: i64, digits: u32) -> String {
    hotp(secret, u64::try_from(step).unwrap_or(0), digits)
}

/// The 6-digit code for `unix_time` (seconds), as an authenticator app shows it then.
pub fn code_at(secret: &[u8], unix_time: i64) -> String {
    code_of_step(secret, step_at(unix_time), DIGITS)
}

/// Checks `code` (spaces allowed, as apps display `123 456`) against the steps within
/// [`WINDOW`] of `now`, skipping every step at or before `last_used_step`, so that a code that
/// was accepted once is refused afterwards. Returns the accepted step, which the caller must
/// store (`db::twofactor::record_step`) in the transaction that signs the user in.
pub fn verify(secret: &[u8], code: &str, now: i64, last_used_step: Option<i64>) -> Option<i64> {
    verify_digits(secret, code, now, last_used_step, DIGITS)
}

fn verify_digits(
    secret: &[u8],
    code: &str,
    now: i64,
    last_used_step: Option<i64>,
    digits: u32,
) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    // Newest first: should two steps share a code, the later one is recorded, so the same
    // code cannot be accepted a second time for the other step.
    ((current - WINDOW)..=(current + WINDOW))
        .rev()
        .filter(|&step| last_used_step.is_none_or(|last| step > last))
        // Compared in constant time, so timing says nothing about the code.
        .find(|&step| {
            bool::from(
                code_of_step(secret, step, digits)
                    .as_bytes()
                    .ct_eq(code.as_bytes()),
            )
        })
}

/// The key URI authenticator apps import (Google Authenticator's "Key Uri Format"):
/// `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`, with
/// issuer and account percent-encoded.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        account = percent_encode(account),
        secret = base32_encode(secret),
    )
}

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// The QR code of `uri` as an inline `<svg>` element (no XML declaration), black on white with
/// the standard quiet zone, at least 200 px wide.
///
/// # Panics
///
/// If `uri` is longer than a QR code holds (2,331 bytes at error-correction level M). An
/// [`otpauth_uri`] for any account up to 254 characters, the longest e-mail address the
/// console accepts, is under 1,000 bytes.
pub fn qr_svg(uri: &str) -> String {
    use qrcode::{render::svg, EcLevel, QrCode};
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
        .expect("an otpauth URI fits in a QR code");
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // The XML declaration is not allowed where the SVG is embedded in HTML.
    match svg.find("<svg") {
        Some(start) => svg[start..].to_string(),
        None => svg,
    }
}

/// RFC 4648 base32, upper case, without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

/// Decodes RFC 4648 base32 as people paste it: either case, spaces and trailing `=` ignored.
/// `None` for any other character, for a length no encoding produces, or when the unused
/// bits of the last character are not zero (so every secret has exactly one spelling).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches(|c: char| c == '=' || c.is_whitespace());
    let canonical: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    // The predefined encodings are canonical: non-zero trailing bits are refused.
    data_encoding::BASE32_NOPAD
        .decode(canonical.as_bytes())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-1 secret of RFC 6238 appendix B.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let vectors: [(i64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, expected) in vectors {
            assert_eq!(
                code_of_step(RFC_SECRET, step_at(time), 8),
                expected,
                "T={time}"
            );
            assert_eq!(
                verify_digits(RFC_SECRET, expected, time, None, 8),
                Some(step_at(time)),
                "T={time}"
            );
        }
    }

    #[test]
    fn app_codes_are_the_last_six_digits() {
        // 94287082 mod 10^6, by the same truncation.
        assert_eq!(code_at(RFC_SECRET, 59), "287082");
        assert_eq!(code_at(RFC_SECRET, 1_111_111_109), "081804");
    }

    #[test]
    fn codes_from_one_step_either_side_are_accepted_and_no_further() {
        let secret = generate_secret();
        let now = 1_800_000_015;
        let step = step_at(now);
        for offset in -1..=1 {
            let code = code_at(&secret, now + offset * STEP_SECONDS);
            assert_eq!(verify(&secret, &code, now, None), Some(step + offset));
        }
        for offset in [-3, -2, 2, 3] {
            let code = code_at(&secret, now + offset * STEP_SECONDS);
            // A code from further away only passes if it happens to equal a nearby one.
            let nearby: Vec<String> = (-1..=1)
                .map(|o| code_at(&secret, now + o * STEP_SECONDS))
                .collect();
            if !nearby.contains(&code) {
                assert_eq!(verify(&secret, &code, now, None), None, "offset {offset}");
            }
        }
    }

    #[test]
    fn a_used_step_and_earlier_ones_are_refused() {
        let secret = generate_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, now);
        let step = verify(&secret, &code, now, None).unwrap();
        assert_eq!(verify(&secret, &code, now, Some(step)), None);
        assert_eq!(verify(&secret, &code, now + 10, Some(step)), None);
        let previous = code_at(&secret, now - STEP_SECONDS);
        assert_eq!(verify(&secret, &previous, now, Some(step)), None);
        // The next step's code still works.
        let next = code_at(&secret, now + STEP_SECONDS);
        assert_eq!(
            verify(&secret, &next, now + STEP_SECONDS, Some(step)),
            Some(step + 1)
        );
    }

    #[test]
    fn malformed_codes_are_refused_and_spaces_allowed() {
        let secret = generate_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, now);
        let spaced = format!(" {} {} ", &code[..3], &code[3..]);
        assert_eq!(verify(&secret, &spaced, now, None), Some(step_at(now)));
        assert_eq!(verify(&secret, &code[..5], now, None), None);
        assert_eq!(verify(&secret, &format!("{code}0"), now, None), None);
        assert_eq!(verify(&secret, "", now, None), None);
        assert_eq!(verify(&secret, "12345a", now, None), None);
        assert_eq!(verify(&secret, "１２３４５６", now, None), None);
    }

    #[test]
    fn secrets_are_random_and_twenty_bytes() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }

    #[test]
    fn rfc_4648_base32_vectors() {
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        // As printed in the RFC, padded; and as people type it.
        assert_eq!(base32_decode("MZXW6YQ=").unwrap(), b"foob");
        assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
        assert_eq!(base32_decode("mzxw 6ytb oi").unwrap(), b"foobar");
    }

    #[test]
    fn base32_round_trips_and_refuses_garbage() {
        for len in 0..=41 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base32_decode(&base32_encode(&bytes)).unwrap(), bytes);
        }
        let secret = generate_secret();
        assert_eq!(base32_encode(&secret).len(), 32);
        assert_eq!(base32_decode(&base32_encode(&secret)).unwrap(), secret);
        assert_eq!(base32_decode("MZXW1"), None, "1 is not base32");
        assert_eq!(
            base32_decode("M"),
            None,
            "no encoding is one character long"
        );
        assert_eq!(base32_decode("MZ"), None, "non-zero unused bits");
        assert_eq!(base32_decode("MZXW6YTB="), Some(b"fooba".to_vec()));
    }

    #[test]
    fn otpauth_uris_encode_issuer_and_account() {
        let uri = otpauth_uri(ISSUER, "jane.doe+ops@bank.example", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/DelTran%20Console:jane.doe%2Bops%40bank.example\
             ?secret=MZXW6YTBOI&issuer=DelTran%20Console&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn qr_codes_are_inline_svg_even_for_the_longest_account() {
        let account = format!("{}@{}.example", "a".repeat(64), "b".repeat(180));
        let svg = qr_svg(&otpauth_uri(ISSUER, &account, &generate_secret()));
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("#000000"));
    }
}
