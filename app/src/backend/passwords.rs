//! Password hashing with argon2id at OWASP's recommended parameters (19 MiB, 2 iterations,
//! 1 lane). Hashing is deliberately slow, so it runs on the blocking pool, and only a few
//! hashes run at once (`PASSWORD_HASH_CONCURRENCY`): a burst of sign-ins waits briefly, then
//! is answered 503, instead of running hundreds of 19 MiB hashes side by side.

use std::{sync::OnceLock, time::Duration};

use argon2::{
    password_hash::{PasswordHasher, PasswordVerifier},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::Semaphore;

use crate::error::AppError;

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

/// How long a hash waits for its turn before it is refused.
pub const MAX_WAIT: Duration = Duration::from_secs(2);

/// Why a hash or a check did not run.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every permit stayed taken for `MAX_WAIT`: the caller answers 503 (try again shortly).
    #[error("too many password hashes at once")]
    Busy,
    #[error("argon2 failed: {0}")]
    Failed(String),
}

impl From<HashError> for AppError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AppError::Unavailable,
            e => super::error::internal(e),
        }
    }
}

/// A bound on the hashes running at once; excess callers wait up to `wait` for a permit.
pub struct HashGate {
    permits: Semaphore,
    wait: Duration,
}

impl HashGate {
    pub fn new(permits: usize, wait: Duration) -> Self {
        HashGate {
            permits: Semaphore::new(permits.max(1)),
            wait,
        }
    }

    /// Runs `work` on the blocking pool once a permit is free (`Busy` if none frees in time).
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                tracing::warn!("password hashing saturated: request refused");
                HashError::Busy
            })?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HashError::Failed(e.to_string()))
    }
}

static GATE: OnceLock<HashGate> = OnceLock::new();

/// The default number of hashes at once: two per CPU.
pub fn default_concurrency() -> usize {
    2 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Sets how many hashes may run at once (at start-up; the first call wins).
pub fn set_concurrency(permits: usize) {
    let _ = GATE.set(HashGate::new(permits, MAX_WAIT));
}

fn gate() -> &'static HashGate {
    GATE.get_or_init(|| HashGate::new(default_concurrency(), MAX_WAIT))
}

/// Hashes off the async threads, within the concurrency bound.
pub async fn hash(password: String) -> Result<String, HashError> {
    gate()
        .run(move || hash_blocking(&password))
        .await?
        .map_err(|e| HashError::Failed(e.to_string()))
}

/// Checks a password against a PHC string, off the async threads and within the concurrency
/// bound. A malformed hash is a mismatch, never a panic; `Busy` is neither match nor mismatch.
pub async fn verify(password: String, phc: String) -> Result<bool, HashError> {
    gate().run(move || check_blocking(&password, &phc)).await
}

fn check_blocking(password: &str, phc: &str) -> bool {
    hasher().verify_password(password.as_bytes(), phc).is_ok()
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
        assert!(verify("correct horse battery".into(), phc.clone())
            .await
            .unwrap());
        assert!(!verify("wrong horse battery".into(), phc).await.unwrap());
        assert!(!verify("x".into(), "not a hash".into()).await.unwrap());
    }

    #[tokio::test]
    async fn a_saturated_gate_refuses_after_waiting_and_admits_once_a_permit_frees() {
        let gate = std::sync::Arc::new(HashGate::new(2, Duration::from_millis(200)));
        let held = [
            gate.permits.acquire().await.unwrap(),
            gate.permits.acquire().await.unwrap(),
        ];
        let started = std::time::Instant::now();
        let refused = gate.run(|| check_blocking("pw", "not a hash")).await;
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(AppError::from(HashError::Busy), AppError::Unavailable);

        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.run(|| 42).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        assert_eq!(waiting.await.unwrap().unwrap(), 42);
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("long enough password").is_ok());
    }
}
