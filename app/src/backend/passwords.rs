//! Password hashing with argon2id at OWASP's recommended parameters (19 MiB, 2 iterations,
//! 1 lane). Hashing is deliberately slow, so it runs on the blocking pool.

use argon2::{
    password_hash::{PasswordHasher, PasswordVerifier},
    Algorithm, Argon2, Params, Version,
};

/// Memory cost in KiB, iterations and lanes: OWASP's first argon2id recommendation.
pub const PARAMS: (u32, u32, u32) = (19 * 1024, 2, 1);

fn hasher() -> Argon2<'static> {
    let (m, t, p) = PARAMS;
    let params = Params::new(m, t, p, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`), synchronously.
pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let hash = hasher()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2 failed: {e}"))?;
    Ok(hash.to_string())
}

/// Hashes off the async threads.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

/// Checks a password against a PHC string, off the async threads. A malformed hash is a
/// mismatch, never a panic.
pub async fn verify(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        hasher()
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// The shortest password the console accepts.
pub const MIN_LENGTH: usize = 12;

/// Refuses passwords that are too short or too long for argon2 to be a sensible cost.
pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(format!("use at least {MIN_LENGTH} characters"));
    }
    if password.len() > 1024 {
        return Err("use at most 1024 characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let phc = hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery".into(), phc.clone()).await);
        assert!(!verify("wrong horse battery".into(), phc).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("long enough password").is_ok());
    }
}
