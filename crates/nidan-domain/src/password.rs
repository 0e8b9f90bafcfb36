//! The password policy (NIST SP 800-63B): a minimum length and no common or guessable
//! passwords; no composition rules.
//!
//! This module exists so that sign-up, password change and reset apply one rule. It
//! guarantees:
//!
//! - length is counted in Unicode scalar values after NFC, so the same password typed on
//!   different keyboards counts the same;
//! - at least `min_chars` and at most [`PASSWORD_MAX_CHARS`] characters;
//! - NUL and other control characters are refused;
//! - overlong input is refused before normalising it;
//! - a password that is common, breached or guessable is refused ([`Weakness`]).
//!
//! Why `zxcvbn` for the last rule, and not a bundled list of breached passwords: NIST asks to
//! refuse passwords from breach corpora, dictionary words, repeated or sequential characters and
//! words of the service's own context. A list answers only the first, and only for the exact
//! strings on it (`password1` is on every list; `password1password1` on none). zxcvbn (Dropbox's
//! estimator, ported to Rust and kept by its author) ships the most common passwords of the
//! breach corpora (30,000, from the 10-million-password list), English words, names and
//! surnames, and finds keyboard rows, repeats, sequences, dates and l33t spellings of all of them
//! inside a password, and the account's own words (its email, the service's name) as well. A
//! password is refused below [`MIN_SCORE`]: fewer than 10^8 guesses by zxcvbn's estimate.
//! Its feedback names the reason, which the pages show in the user's language.

use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;
use zxcvbn::Score;
use zxcvbn::feedback::Warning;

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
    /// Common, breached or easy to guess.
    #[error("the password is too easy to guess: {0}")]
    Weak(Weakness),
}

/// Why a password of the right length is still too easy to guess (stable names for the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// One of the most common passwords, or a small change of one.
    Common,
    /// Straight rows or short patterns of keys.
    Keyboard,
    /// Repeated characters or repeated groups.
    Repeated,
    /// Sequences (`abc`, `6543`), years or dates.
    Sequence,
    /// A word, name or surname by itself.
    Word,
    /// The account's own email or the service's name.
    Personal,
    /// Easy to guess for another reason (several of the above together).
    Guessable,
}

impl Weakness {
    /// The stable name (`reason` in the API).
    pub fn as_str(self) -> &'static str {
        match self {
            Weakness::Common => "common",
            Weakness::Keyboard => "keyboard",
            Weakness::Repeated => "repeated",
            Weakness::Sequence => "sequence",
            Weakness::Word => "word",
            Weakness::Personal => "personal",
            Weakness::Guessable => "guessable",
        }
    }
}

impl std::fmt::Display for Weakness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Weakness::Common => "it is one of the most common passwords, or close to one",
            Weakness::Keyboard => "it follows rows or patterns of keys",
            Weakness::Repeated => "it repeats characters or groups of them",
            Weakness::Sequence => "it is made of sequences, years or dates",
            Weakness::Word => "it is a word or name by itself",
            Weakness::Personal => "it contains your email address or the name of this service",
            Weakness::Guessable => "it is made of common words and patterns",
        })
    }
}

/// The lowest zxcvbn score accepted: 3, "safely unguessable" (at least 10^8 guesses).
pub const MIN_SCORE: Score = Score::Three;

/// The NFC form of a password: what should be hashed, so that the same password typed on
/// different systems (composed or decomposed accents) verifies.
pub fn normalize_password(password: &str) -> Zeroizing<String> {
    Zeroizing::new(password.nfc().collect())
}

/// Check length in Unicode scalar values after NFC; no composition rules (NIST); NUL and
/// control characters refused; then how guessable it is, given the account's own words
/// (`context`: its email, the service's name), which a password must not lean on.
pub fn check_password_policy(
    password: &str,
    min_chars: usize,
    context: &[&str],
) -> Result<(), PasswordPolicyError> {
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
    match weakness(&normalize_password(password), context) {
        Some(w) => Err(PasswordPolicyError::Weak(w)),
        None => Ok(()),
    }
}

/// Why the password is too easy to guess, or `None` when it is not: it holds the name part of
/// the account's email (whatever else it holds: that part is the first guess anyone makes), or
/// zxcvbn scores it below [`MIN_SCORE`] with the account's words as its own dictionary.
fn weakness(password: &str, context: &[&str]) -> Option<Weakness> {
    let letters = |t: &str| -> String {
        t.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let typed = letters(password);
    let holds_own_name = context
        .iter()
        .filter_map(|w| w.split_once('@').map(|(name, _)| letters(name)))
        .any(|name| name.chars().count() >= 4 && typed.contains(&name));
    if holds_own_name {
        return Some(Weakness::Personal);
    }
    // The email's parts count as the account's words, each on its own.
    let words: Vec<&str> = context
        .iter()
        .flat_map(|w| w.split(['@', '.', '+', '-', '_']))
        .chain(context.iter().copied())
        .filter(|w| w.chars().count() >= 3)
        .collect();
    let estimate = zxcvbn::zxcvbn(password, &words);
    if estimate.score() >= MIN_SCORE {
        return None;
    }
    // A dictionary match on one of the account's own words (zxcvbn lowercases them).
    let personal = estimate.sequence().iter().any(|m| {
        matches!(
            &m.pattern,
            zxcvbn::matching::patterns::MatchPattern::Dictionary(d)
                if words.iter().any(|w| w.to_lowercase() == d.matched_word)
        )
    });
    if personal {
        return Some(Weakness::Personal);
    }
    let warning = estimate.feedback().and_then(|f| f.warning());
    Some(match warning {
        Some(
            Warning::ThisIsATop10Password
            | Warning::ThisIsATop100Password
            | Warning::ThisIsACommonPassword
            | Warning::ThisIsSimilarToACommonlyUsedPassword,
        ) => Weakness::Common,
        Some(
            Warning::StraightRowsOfKeysAreEasyToGuess
            | Warning::ShortKeyboardPatternsAreEasyToGuess,
        ) => Weakness::Keyboard,
        Some(
            Warning::RepeatsLikeAaaAreEasyToGuess
            | Warning::RepeatsLikeAbcAbcAreOnlySlightlyHarderToGuess,
        ) => Weakness::Repeated,
        Some(
            Warning::SequencesLikeAbcAreEasyToGuess
            | Warning::RecentYearsAreEasyToGuess
            | Warning::DatesAreOftenEasyToGuess,
        ) => Weakness::Sequence,
        Some(
            Warning::AWordByItselfIsEasyToGuess
            | Warning::NamesAndSurnamesByThemselvesAreEasyToGuess
            | Warning::CommonNamesAndSurnamesAreEasyToGuess,
        ) => Weakness::Word,
        None => Weakness::Guessable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(
            check_password_policy("short", 15, &[]),
            Err(PasswordPolicyError::TooShort { min: 15 })
        );
        assert_eq!(
            check_password_policy("correct horse battery", 15, &[]),
            Ok(())
        );
        assert_eq!(
            check_password_policy(&"a".repeat(256), 15, &[]),
            Err(PasswordPolicyError::Weak(Weakness::Repeated))
        );
        assert_eq!(
            check_password_policy(&"a".repeat(257), 15, &[]),
            Err(PasswordPolicyError::TooLong { max: 256 })
        );
        assert_eq!(
            check_password_policy(&"a".repeat(1_000_000), 15, &[]),
            Err(PasswordPolicyError::TooLong { max: 256 })
        );
    }

    #[test]
    fn counts_after_nfc() {
        // 15 x "e + combining acute" is 30 code points but 15 characters after NFC.
        let decomposed = "e\u{0301}".repeat(15);
        assert_eq!(
            check_password_policy(&decomposed, 15, &[]),
            Err(PasswordPolicyError::Weak(Weakness::Repeated))
        );
        assert_eq!(
            check_password_policy(&decomposed, 16, &[]),
            Err(PasswordPolicyError::TooShort { min: 16 })
        );
        assert_eq!(
            normalize_password("e\u{0301}").as_str(),
            normalize_password("\u{e9}").as_str()
        );
        // emoji and CJK count as one each; no composition rules
        assert_eq!(
            check_password_policy("😀🍣😀🌸🎌日本語の富士山と京都の桜", 15, &[]),
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
                check_password_policy(p, 1, &[]),
                Err(PasswordPolicyError::ControlCharacter)
            );
        }
    }

    #[test]
    fn common_and_guessable_passwords_are_refused_with_a_reason() {
        for (p, why) in [
            ("password1", Weakness::Common),
            ("12345678", Weakness::Common),
            ("qwerty123", Weakness::Common),
            ("iloveyou", Weakness::Common),
            ("qwertyuiopasdfgh", Weakness::Common),
            ("abcabcabcabcabcabc", Weakness::Repeated),
        ] {
            assert_eq!(
                check_password_policy(p, 8, &[]),
                Err(PasswordPolicyError::Weak(why)),
                "{p}"
            );
        }
    }

    #[test]
    fn the_accounts_own_words_are_refused() {
        assert_eq!(
            check_password_policy(
                "hanako.yamada2024",
                8,
                &["hanako.yamada@example.com", "nidan"]
            ),
            Err(PasswordPolicyError::Weak(Weakness::Personal))
        );
    }

    #[test]
    fn long_passphrases_and_random_passwords_pass() {
        for p in [
            "correct horse battery staple",
            "tea kettle under the stairs",
            "Xq7#mP2vL9!sRw4",
            "しろいねこがやねのうえでねている",
        ] {
            assert_eq!(
                check_password_policy(p, 15, &["someone@example.com"]),
                Ok(()),
                "{p}"
            );
        }
    }
}
