//! The password policy (NIST SP 800-63B): length only, no composition rules.
//!
//! This module exists so that sign-up, password change and reset apply one rule. It
//! guarantees:
//!
//! - length is counted in Unicode scalar values after NFC, so the same password typed on
//!   different keyboards counts the same;
//! - at least `min_chars` and at most [`PASSWORD_MAX_CHARS`] characters;
//! - NUL and other control characters are refused;
//! - overlong input is refused before normalising it.

use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// Longest accepted password, in characters after NFC (NIST asks for at least 64).
pub const PASSWORD_MAX_CHARS: usize = 256;

/// Why a password was refused. Messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    /// Fewer than `min` characters.
    #[error("the password must have at least {min} characters")]
    TooShort {
        /// The minimum length.
        min: usize,
    },
    /// More than `max` characters.
    #[error("the password must have at most {max} characters")]
    TooLong {
        /// The maximum length.
        max: usize,
    },
    /// A NUL or other control character.
    #[error("the password contains a control character")]
    ControlCharacter,
}

/// The NFC form of a password: what should be hashed, so that the same password typed on
/// different systems (composed or decomposed accents) verifies.
pub fn normalize_password(password: &str) -> Zeroizing<String> {
    Zeroizing::new(password.nfc().collect())
}

/// Check length in Unicode scalar values after NFC; no composition rules (NIST); NUL and
/// control characters refused.
pub fn check_password_policy(password: &str, min_chars: usize) -> Result<(), PasswordPolicyError> {
    if password.chars().any(char::is_control) {
        return Err(PasswordPolicyError::ControlCharacter);
    }
    // NFC composes at most a few code points into one; anything this long stays too long.
    if password.len() > PASSWORD_MAX_CHARS * 16 {
        return Err(PasswordPolicyError::TooLong {
            max: PASSWORD_MAX_CHARS,
        });
    }
    let chars = password.nfc().count();
    if chars < min_chars {
        return Err(PasswordPolicyError::TooShort { min: min_chars });
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(PasswordPolicyError::TooLong {
            max: PASSWORD_MAX_CHARS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(
            check_password_policy("short", 15),
            Err(PasswordPolicyError::TooShort { min: 15 })
        );
        assert_eq!(check_password_policy("correct horse battery", 15), Ok(()));
        assert_eq!(check_password_policy(&"a".repeat(256), 15), Ok(()));
        assert_eq!(
            check_password_policy(&"a".repeat(257), 15),
            Err(PasswordPolicyError::TooLong { max: 256 })
        );
        assert_eq!(
            check_password_policy(&"a".repeat(1_000_000), 15),
            Err(PasswordPolicyError::TooLong { max: 256 })
        );
    }

    #[test]
    fn counts_after_nfc() {
        // 15 x "e + combining acute" is 30 code points but 15 characters after NFC.
        let decomposed = "e\u{0301}".repeat(15);
        assert_eq!(check_password_policy(&decomposed, 15), Ok(()));
        assert_eq!(
            check_password_policy(&decomposed, 16),
            Err(PasswordPolicyError::TooShort { min: 16 })
        );
        assert_eq!(
            normalize_password("e\u{0301}").as_str(),
            normalize_password("\u{e9}").as_str()
        );
        // emoji and CJK count as one each; no composition rules
        assert_eq!(
            check_password_policy("😀😀😀😀😀日本語日本語日本語日本", 15),
            Ok(())
        );
    }

    #[test]
    fn control_characters() {
        for p in [
            "password\u{0}password",
            "pass\nwordpassword",
            "\u{7f}xxxxxxxxxxxxxxxx",
        ] {
            assert_eq!(
                check_password_policy(p, 1),
                Err(PasswordPolicyError::ControlCharacter)
            );
        }
    }
}
