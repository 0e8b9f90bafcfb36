//! What people type: numeric one-time codes, and the "any current code" submission.
//!
//! This module exists so that every entry point (sign-in, settings, the app API) normalises a
//! typed code the same way *before* any lookup or comparison (security.md "Input"). It
//! guarantees:
//!
//! - full-width ASCII (U+FF01..=U+FF5E) maps to ASCII and U+3000 to a space; then ASCII spaces,
//!   tabs and hyphens are removed; then only ASCII `0`..=`9` remain, or the input is refused;
//! - no other Unicode digit (Arabic-Indic, Devanagari, superscripts, ...) is ever a digit; NUL
//!   and control characters are refused;
//! - overlong input (> 256 characters) is refused without building a large string;
//! - the normalised code is held in [`Zeroizing`] memory and `Debug` never shows it;
//! - normalisation is idempotent: normalising a normalised code gives the same code.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::recovery::{RecoveryCode, normalize_recovery_code};
use crate::totp::TOTP_DIGITS;

/// Inputs with more characters than this are refused outright, whatever they contain.
pub(crate) const MAX_INPUT_CHARS: usize = 256;

/// A code of ASCII digits, exactly as long as the caller demanded, after normalisation.
///
/// Why a type: a `NumericCode` can only come out of [`normalize_numeric_code`], so holding one
/// proves the input was normalised and validated. `Debug` is redacted; equality is constant
/// time.
#[derive(Clone)]
pub struct NumericCode(Zeroizing<String>);

impl NumericCode {
    /// The digits, for comparison with a computed code (compare in constant time).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NumericCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NumericCode(..)")
    }
}

impl PartialEq for NumericCode {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl Eq for NumericCode {}

/// Why a typed code was refused. The messages never echo the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Nothing left after removing spaces and hyphens.
    #[error("the code is empty")]
    Empty,
    /// A character that is not allowed in this kind of code.
    #[error("the code contains a character that is not allowed")]
    BadCharacter,
    /// The right characters, but not the right number of them.
    #[error("the code must be {expected} characters long, not {got}")]
    WrongLength {
        /// How many characters the code must have.
        expected: usize,
        /// How many it had (after normalisation, or in the raw input if refused early).
        got: usize,
    },
}

/// Map full-width ASCII (U+FF01..=U+FF5E) to ASCII and the ideographic space to a space.
///
/// Phones with CJK keyboards produce these; people cannot see the difference.
pub(crate) fn fold_fullwidth(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Characters people use to group a code for reading; they carry no meaning.
pub(crate) fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '-')
}

/// Refuse inputs with more than [`MAX_INPUT_CHARS`] characters, counting without allocating.
pub(crate) fn refuse_overlong(input: &str, expected: usize) -> Result<(), CodeError> {
    // A char is at most 4 bytes: a short byte length is always short enough.
    if input.len() <= MAX_INPUT_CHARS {
        return Ok(());
    }
    let got = input.chars().count();
    if got > MAX_INPUT_CHARS {
        return Err(CodeError::WrongLength { expected, got });
    }
    Ok(())
}

/// Normalise a typed numeric code and demand exactly `len` ASCII digits.
///
/// 1. map full-width ASCII U+FF01..=U+FF5E to ASCII (c - 0xFEE0), and U+3000 to ' ';
/// 2. remove ASCII space, tab and '-' (after step 1, so full-width hyphen and space count too);
/// 3. every remaining char must be ASCII '0'..='9' (any other Unicode digit, NUL, letters,
///    signs: [`CodeError::BadCharacter`]);
/// 4. the length must be `len` ([`CodeError::WrongLength`]); nothing left is
///    [`CodeError::Empty`].
///
/// Inputs longer than 256 chars are refused early with [`CodeError::WrongLength`].
pub fn normalize_numeric_code(input: &str, len: usize) -> Result<NumericCode, CodeError> {
    refuse_overlong(input, len)?;
    let mut out = Zeroizing::new(String::with_capacity(len.min(MAX_INPUT_CHARS)));
    for c in input.chars().map(fold_fullwidth) {
        if is_separator(c) {
            continue;
        }
        if !c.is_ascii_digit() {
            return Err(CodeError::BadCharacter);
        }
        out.push(c);
    }
    if out.is_empty() {
        return Err(CodeError::Empty);
    }
    if out.len() != len {
        return Err(CodeError::WrongLength {
            expected: len,
            got: out.len(),
        });
    }
    Ok(NumericCode(out))
}

/// A code submitted where "any current code" is accepted (turning two-step off, removing a
/// method, recreating recovery codes): either a 6-digit code or a recovery code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmittedCode {
    /// Six digits: a TOTP code or a code sent by email or SMS.
    Numeric(NumericCode),
    /// A recovery code in canonical form.
    Recovery(RecoveryCode),
}

/// Decide what kind of code someone typed.
///
/// 6 digits after normalisation gives [`SubmittedCode::Numeric`]; otherwise the input is tried
/// as a recovery code ([`SubmittedCode::Recovery`]). If both fail, the error is the numeric one
/// when the input looked numeric (only digits and separators, just the wrong count), else the
/// recovery one.
pub fn classify_code(input: &str) -> Result<SubmittedCode, CodeError> {
    let numeric_err = match normalize_numeric_code(input, TOTP_DIGITS as usize) {
        Ok(code) => return Ok(SubmittedCode::Numeric(code)),
        Err(e) => e,
    };
    match normalize_recovery_code(input) {
        Ok(code) => Ok(SubmittedCode::Recovery(code)),
        Err(recovery_err) => match numeric_err {
            CodeError::WrongLength { .. } | CodeError::Empty => Err(numeric_err),
            CodeError::BadCharacter => Err(recovery_err),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spacing_and_hyphens_are_removed() {
        for s in [
            "123456",
            " 123 456 ",
            "123-456",
            "\t12 34-56",
            "１２３４５６",
            "１２３－４５６",
        ] {
            assert_eq!(
                normalize_numeric_code(s, 6).unwrap().as_str(),
                "123456",
                "{s:?}"
            );
        }
        assert_eq!(
            normalize_numeric_code("123\u{3000}456", 6)
                .unwrap()
                .as_str(),
            "123456"
        );
    }

    #[test]
    fn hostile_inputs_are_refused() {
        use CodeError::*;
        let cases: &[(&str, CodeError)] = &[
            ("", Empty),
            (" - ", Empty),
            ("١٢٣٤٥٦", BadCharacter),
            ("१२३४५६", BadCharacter),
            ("¹²³⁴⁵⁶", BadCharacter),
            ("123456\u{0}", BadCharacter),
            ("+12345", BadCharacter),
            ("12e345", BadCharacter),
            ("0x1E240", BadCharacter),
            ("' OR '1'='1", BadCharacter),
            ("%%%%%%", BadCharacter),
            ("______", BadCharacter),
            (
                "12345",
                WrongLength {
                    expected: 6,
                    got: 5,
                },
            ),
            (
                "1234567",
                WrongLength {
                    expected: 6,
                    got: 7,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                normalize_numeric_code(input, 6).unwrap_err(),
                *want,
                "{input:?}"
            );
        }
        let long = "1".repeat(1000);
        assert_eq!(
            normalize_numeric_code(&long, 6).unwrap_err(),
            WrongLength {
                expected: 6,
                got: 1000
            }
        );
    }

    #[test]
    fn leading_zeros_survive() {
        assert_eq!(
            normalize_numeric_code("000123", 6).unwrap().as_str(),
            "000123"
        );
    }

    #[test]
    fn debug_is_redacted() {
        let c = normalize_numeric_code("987654", 6).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("987654"), "{d}");
    }

    #[test]
    fn classify() {
        assert!(matches!(
            classify_code("123 456").unwrap(),
            SubmittedCode::Numeric(_)
        ));
        assert!(matches!(
            classify_code("abcde-12345").unwrap(),
            SubmittedCode::Recovery(_)
        ));
        // ten digits are a valid recovery code (digits are in the alphabet)
        assert!(matches!(
            classify_code("0123456789").unwrap(),
            SubmittedCode::Recovery(_)
        ));
        assert_eq!(
            classify_code("12345").unwrap_err(),
            CodeError::WrongLength {
                expected: 6,
                got: 5
            }
        );
        assert_eq!(
            classify_code("abcde-1234u").unwrap_err(),
            CodeError::BadCharacter
        );
        assert_eq!(
            classify_code("abcde-1234").unwrap_err(),
            CodeError::WrongLength {
                expected: 10,
                got: 9
            }
        );
        assert_eq!(classify_code("").unwrap_err(), CodeError::Empty);
    }
}
