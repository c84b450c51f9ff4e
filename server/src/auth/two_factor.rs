//! The second factor: TOTP codes (RFC 6238: SHA-1, six digits, 30-second steps, as every
//! authenticator app reads them) and one-time recovery codes. Pure functions; the sign-in
//! flow that uses them is in [`super::Auth`].

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

/// The name authenticator apps show above the code.
pub const ISSUER: &str = "Lookout";
/// Seconds per code.
pub const STEP_SECS: u64 = 30;
/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// Recovery codes are ten characters of this alphabet (no 0/o, 1/l/i): 50 bits each.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A fresh secret: 160 random bits (RFC 4226's recommendation), in base32.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    Secret::Raw(bytes.to_vec()).to_encoded().to_string()
}

fn totp(secret_base32: &str, account: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret_base32.to_string()).to_bytes().ok()?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECS,
        bytes,
        Some(ISSUER.to_string()),
        account.to_string(),
    )
    .ok()
}

/// The `otpauth://` URI an authenticator app scans.
pub fn uri(secret_base32: &str, account: &str) -> Option<String> {
    totp(secret_base32, account).map(|t| t.get_url())
}

/// The code for the step that holds `unix_secs` (tests and the enrolment check use it).
pub fn code_at(secret_base32: &str, unix_secs: u64) -> Option<String> {
    totp(secret_base32, "x").map(|t| t.generate(unix_secs))
}

/// The step of `code` if it is the code of the current step or one either side (clock
/// drift) and later than `after` (a code is accepted once). Compared in constant time.
pub fn matching_step(secret_base32: &str, code: &str, now_secs: u64, after: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret_base32, "x")?;
    let now = now_secs / STEP_SECS;
    (now.saturating_sub(1)..=now + 1)
        .filter(|step| *step > after)
        .find(|step| {
            let expected = totp.generate(step * STEP_SECS);
            bool::from(expected.as_bytes().ct_eq(code.as_bytes()))
        })
}

/// Ten fresh recovery codes, shown as `abcde-fghjk`.
pub fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..10)
                .map(|_| RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// A recovery code as typed (any case, with or without the dash or spaces), or `None` if
/// it cannot be one.
pub fn normalise_recovery_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    (code.len() == 10 && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))).then_some(code)
}

/// What is stored of a (normalised) recovery code. High entropy, so a plain hash is
/// enough, as for API tokens.
pub fn recovery_hash(normalised: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(normalised.as_bytes()))
}

/// A fresh challenge id for a sign-in waiting for its second step: 256 random bits.
pub fn new_challenge() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored of a challenge id.
pub fn challenge_hash(challenge: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_rfc_6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1, secret "12345678901234567890", truncated to 6 digits.
        let secret = Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(&secret, t).unwrap(), code, "at {t}");
        }
    }

    #[test]
    fn a_code_is_accepted_within_a_step_of_now_and_only_once() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let current = code_at(&secret, now).unwrap();
        let step = now / STEP_SECS;
        assert_eq!(matching_step(&secret, &current, now, 0), Some(step));
        assert_eq!(
            matching_step(&secret, &current, now, step),
            None,
            "once used"
        );
        let previous = code_at(&secret, now - STEP_SECS).unwrap();
        assert_eq!(
            matching_step(&secret, &previous, now, 0),
            Some(step - 1),
            "one step of drift"
        );
        let old = code_at(&secret, now - 3 * STEP_SECS).unwrap();
        if old != current && old != previous {
            assert_eq!(matching_step(&secret, &old, now, 0), None, "too old");
        }
        for bad in ["", "12345", "1234567", "abcdef", " 12 345"] {
            assert_eq!(matching_step(&secret, bad, now, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn recovery_codes_are_random_and_typed_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let code = &codes[0];
        let normal = normalise_recovery_code(code).unwrap();
        assert_eq!(
            normalise_recovery_code(&code.to_uppercase()),
            Some(normal.clone())
        );
        assert_eq!(
            normalise_recovery_code(&code.replace('-', " ")),
            Some(normal.clone())
        );
        assert_eq!(recovery_hash(&normal).len(), 43);
        for bad in ["", "123456", "abcde-fghj", "abcde-fghjkm", "abcde-fgh0k"] {
            assert_eq!(normalise_recovery_code(bad), None, "{bad:?}");
        }
    }
}
