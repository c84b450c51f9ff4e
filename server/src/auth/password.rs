//! argon2id password hashing off the async runtime, behind a bounded semaphore, with a
//! dummy hash so that an unknown user costs the same time as a wrong password.

use crate::stats::Stats;
use app::auth::Password;
use argon2::{
    password_hash::{
        rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
    },
    Algorithm, Argon2, Params, Version,
};
use std::{sync::Arc, time::Duration};
use tokio::sync::Semaphore;

/// OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// How long a hash may wait for a free slot before the request is turned away: a login
/// storm gets 503s rather than an unbounded queue.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing is overloaded")]
    Busy,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matches: bool,
    /// The stored hash used other parameters than today's: store a fresh one.
    pub needs_rehash: bool,
}

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    dummy: Arc<str>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2(params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Internal(e.to_string()))
}

fn verify_blocking(params: &Params, password: &str, phc: &str) -> Result<Verified, HashError> {
    let parsed = PasswordHash::new(phc).map_err(|e| HashError::Internal(e.to_string()))?;
    let matches = argon2(params)
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    let current = Params::try_from(&parsed).ok();
    let needs_rehash = parsed.algorithm != Algorithm::Argon2id.ident()
        || current.is_none_or(|p| {
            p.m_cost() != params.m_cost()
                || p.t_cost() != params.t_cost()
                || p.p_cost() != params.p_cost()
        });
    Ok(Verified {
        matches,
        needs_rehash,
    })
}

/// A generated password: 20 random alphanumerics, about 119 bits.
pub fn random_password() -> String {
    use rand::{distr::Alphanumeric, Rng};
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

impl Hasher {
    /// Builds the hasher with OWASP parameters. Computes the dummy hash once, here.
    pub fn new(max_concurrent: usize, stats: Arc<Stats>) -> Result<Self, HashError> {
        Self::with_params(max_concurrent, stats, MEMORY_KIB, ITERATIONS, PARALLELISM)
    }

    /// The server's counters, which the hasher counts its work in.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn with_params(
        max_concurrent: usize,
        stats: Arc<Stats>,
        m_kib: u32,
        t: u32,
        p: u32,
    ) -> Result<Self, HashError> {
        let params =
            Params::new(m_kib, t, p, None).map_err(|e| HashError::Internal(e.to_string()))?;
        let dummy = hash_blocking(&params, "lookout-dummy-password-never-matches")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy: dummy.into(),
            stats,
        })
    }

    async fn run<T, F>(&self, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce(&Params) -> Result<T, HashError> + Send + 'static,
    {
        let _permit = tokio::time::timeout(QUEUE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::Busy)?;
        let params = self.params.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| work(&params)))
            .await
            .map_err(|e| HashError::Internal(e.to_string()))?
    }

    /// A PHC string for a new password.
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.run(move |params| hash_blocking(params, password.expose()))
            .await
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no
    /// such user, so that both cases take the same time. The dummy never matches.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<Verified, HashError> {
        let is_real = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.to_string());
        let stats = self.stats.clone();
        let verified = self
            .run(move |params| {
                let verified = verify_blocking(params, password.expose(), &phc);
                Stats::add(&stats.password_checks);
                verified
            })
            .await?;
        Ok(Verified {
            matches: verified.matches && is_real,
            needs_rehash: verified.needs_rehash && is_real,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::for_login(s.to_string()).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters() {
        let hasher = Hasher::new(2, Arc::default()).unwrap();
        let phc = hasher.hash(pw("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            hasher
                .verify(pw("correct horse"), Some(phc.clone()))
                .await
                .unwrap()
                .matches
        );
        assert!(
            !hasher
                .verify(pw("wrong horse"), Some(phc))
                .await
                .unwrap()
                .matches
        );
    }

    #[tokio::test]
    async fn unknown_users_are_checked_against_a_dummy_that_never_matches() {
        let stats = Arc::new(Stats::default());
        let hasher = Hasher::new(1, stats.clone()).unwrap();
        let verified = hasher
            .verify(pw("lookout-dummy-password-never-matches"), None)
            .await
            .unwrap();
        assert_eq!(
            verified,
            Verified {
                matches: false,
                needs_rehash: false
            }
        );
        // The argon2 work was done, as for a real user.
        assert_eq!(Stats::get(&stats.password_checks), 1);
    }

    #[tokio::test]
    async fn hashes_with_weaker_parameters_ask_for_a_rehash() {
        let weak = Hasher::with_params(1, Arc::default(), 8_192, 1, 1).unwrap();
        let phc = weak.hash(pw("correct horse")).await.unwrap();
        let verified = Hasher::new(1, Arc::default())
            .unwrap()
            .verify(pw("correct horse"), Some(phc))
            .await
            .unwrap();
        assert_eq!(
            verified,
            Verified {
                matches: true,
                needs_rehash: true
            }
        );
    }
}
