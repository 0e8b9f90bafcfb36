//! Recovery codes: the single-use codes people print or store for when their phone is lost.
//!
//! This module exists to make recovery codes easy to read aloud and type, and impossible to
//! mistype into another valid code. It guarantees:
//!
//! - codes are [`RECOVERY_CODE_LEN`] characters of Crockford base32 (no I, L, O, U), so about
//!   50 bits each, drawn uniformly from caller-supplied random bytes (`256 % 32 == 0`);
//! - people see `xxxxx-xxxxx` in lowercase; the canonical (stored, hashed) form is uppercase
//!   without the hyphen;
//! - typed input is normalised like numeric codes (full-width folding, spaces and hyphens
//!   ignored), case-insensitively, with the Crockford aliases I, L -> 1 and O -> 0;
//! - the code lives in [`Zeroizing`] memory and `Debug` never shows it.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::code::{CodeError, MAX_INPUT_CHARS, fold_fullwidth, is_separator, refuse_overlong};

/// How many recovery codes one set holds.
pub const RECOVERY_CODE_COUNT: usize = 8;

/// Characters in one recovery code.
pub const RECOVERY_CODE_LEN: usize = 10;

/// Crockford base32: no I, L, O, U. 32 symbols -> 5 bits a character -> 50 bits a code.
pub const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// One recovery code in canonical form: 10 uppercase alphabet characters.
///
/// Why a type: holding one proves the text is canonical, so hashing it always gives the same
/// digest for every way of typing it. `Debug` is redacted; the memory is zeroized on drop;
/// equality is constant time.
#[derive(Clone)]
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    /// Build a code from [`RECOVERY_CODE_LEN`] random bytes (from the OS CSPRNG in the caller).
    ///
    /// Each byte's low five bits pick a symbol; since 256 is a multiple of 32, every symbol is
    /// equally likely.
    pub fn from_random(bytes: &[u8; RECOVERY_CODE_LEN]) -> RecoveryCode {
        let mut s = Zeroizing::new(String::with_capacity(RECOVERY_CODE_LEN));
        for b in bytes {
            s.push(char::from(RECOVERY_ALPHABET[usize::from(b & 31)]));
        }
        RecoveryCode(s)
    }

    /// The canonical form, e.g. `"ABCDE12345"`: what gets hashed and stored.
    pub fn canonical(&self) -> &str {
        &self.0
    }

    /// The form people see, e.g. `"abcde-12345"`: lowercase, a hyphen after five characters.
    pub fn display(&self) -> String {
        let lower = self.0.to_ascii_lowercase();
        let (a, b) = lower.split_at(lower.len().min(5));
        format!("{a}-{b}")
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

impl PartialEq for RecoveryCode {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl Eq for RecoveryCode {}

/// Map one typed (already full-width-folded, non-separator) character to its canonical symbol.
fn canonical_symbol(c: char) -> Option<char> {
    let c = match c.to_ascii_uppercase() {
        'I' | 'L' => '1',
        'O' => '0',
        other => other,
    };
    if c.is_ascii() && RECOVERY_ALPHABET.contains(&(c as u8)) {
        Some(c)
    } else {
        None
    }
}

/// Normalise a typed recovery code to canonical form.
///
/// Full-width characters fold to ASCII, spaces/tabs/hyphens are ignored, letters are
/// uppercased, I and L read as 1 and O as 0; then exactly [`RECOVERY_CODE_LEN`] characters from
/// [`RECOVERY_ALPHABET`] must remain. `U` and anything else outside the alphabet is
/// [`CodeError::BadCharacter`]; a wrong count is [`CodeError::WrongLength`].
pub fn normalize_recovery_code(input: &str) -> Result<RecoveryCode, CodeError> {
    refuse_overlong(input, RECOVERY_CODE_LEN)?;
    let mut out = Zeroizing::new(String::with_capacity(MAX_INPUT_CHARS.min(32)));
    for c in input.chars().map(fold_fullwidth) {
        if is_separator(c) {
            continue;
        }
        let Some(sym) = canonical_symbol(c) else {
            return Err(CodeError::BadCharacter);
        };
        out.push(sym);
    }
    if out.is_empty() {
        return Err(CodeError::Empty);
    }
    if out.len() != RECOVERY_CODE_LEN {
        return Err(CodeError::WrongLength {
            expected: RECOVERY_CODE_LEN,
            got: out.len(),
        });
    }
    Ok(RecoveryCode(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn is_display_format(s: &str) -> bool {
        let ok = |c: u8| {
            c.is_ascii_digit()
                || (c.is_ascii_lowercase() && !matches!(c, b'i' | b'l' | b'o' | b'u'))
        };
        let b = s.as_bytes();
        b.len() == 11
            && b[5] == b'-'
            && b[..5].iter().all(|&c| ok(c))
            && b[6..].iter().all(|&c| ok(c))
    }

    #[test]
    fn display_format() {
        for seed in 0u8..=255 {
            let mut bytes = [0u8; RECOVERY_CODE_LEN];
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = seed
                    .wrapping_mul(31)
                    .wrapping_add((i as u8).wrapping_mul(97));
            }
            let code = RecoveryCode::from_random(&bytes);
            assert!(is_display_format(&code.display()), "{}", code.display());
            assert_eq!(normalize_recovery_code(&code.display()).unwrap(), code);
        }
        let all = RecoveryCode::from_random(&[0, 1, 2, 3, 4, 27, 28, 29, 30, 31]);
        assert_eq!(all.canonical(), "01234VWXYZ");
        assert_eq!(all.display(), "01234-vwxyz");
    }

    #[test]
    fn every_spelling_gives_one_canonical() {
        let want = "ABCDE12345";
        for s in [
            "ABCDE-12345",
            "abcde-12345",
            "abcde12345",
            " abc de 123 45 ",
            "ＡＢＣＤＥ－１２３４５",
            "ａｂｃｄｅ１２３４５",
            "abcde\u{3000}12345",
            "\tABCDE-12345\t",
        ] {
            assert_eq!(
                normalize_recovery_code(s).unwrap().canonical(),
                want,
                "{s:?}"
            );
        }
    }

    #[test]
    fn crockford_aliases() {
        assert_eq!(
            normalize_recovery_code("ilo-ILO-0000").unwrap().canonical(),
            "1101100000"
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            normalize_recovery_code("abcde-1234u").unwrap_err(),
            CodeError::BadCharacter
        );
        assert_eq!(
            normalize_recovery_code("U").unwrap_err(),
            CodeError::BadCharacter
        );
        assert_eq!(
            normalize_recovery_code("abcde-1234").unwrap_err(),
            CodeError::WrongLength {
                expected: 10,
                got: 9
            }
        );
        assert_eq!(
            normalize_recovery_code("abcde-123456").unwrap_err(),
            CodeError::WrongLength {
                expected: 10,
                got: 11
            }
        );
        assert_eq!(
            normalize_recovery_code("abcde-1234\u{0}").unwrap_err(),
            CodeError::BadCharacter
        );
        assert_eq!(
            normalize_recovery_code("abcdé-12345").unwrap_err(),
            CodeError::BadCharacter
        );
        assert_eq!(normalize_recovery_code("--").unwrap_err(), CodeError::Empty);
        assert!(matches!(
            normalize_recovery_code(&"a".repeat(300)).unwrap_err(),
            CodeError::WrongLength { got: 300, .. }
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let c = normalize_recovery_code("abcde-12345").unwrap();
        assert_eq!(format!("{c:?}"), "RecoveryCode(..)");
    }
}
