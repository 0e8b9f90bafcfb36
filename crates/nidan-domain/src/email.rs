//! Email addresses as account identifiers.
//!
//! This module exists so that sign-up, sign-in and every lookup use one normalisation, and an
//! address that merely looks like another is never merged with it. It guarantees:
//!
//! - the stored form is trimmed, NFC-normalised and lowercased (the local part too: a
//!   documented choice, so `ALICE@x` and `alice@x` are one account);
//! - exactly one `@`, a non-empty local part of at most 64 bytes, a domain with a dot and no
//!   empty labels, at most 254 bytes in total, and no whitespace, control characters or NUL;
//! - confusables are *not* folded: `alice@exаmple.com` with a Cyrillic `а` stays a different
//!   address from the Latin one.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Longest accepted address, in bytes (RFC 5321 path limit minus the angle brackets).
const MAX_EMAIL_BYTES: usize = 254;
/// Longest accepted local part, in bytes (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_BYTES: usize = 64;

/// A normalised email address. Build one with [`EmailAddress::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// Why an address was refused; the text says what is wrong, for the message shown to people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// The address is not acceptable; the text says why.
    #[error("invalid email address: {0}")]
    Invalid(&'static str),
}

impl EmailAddress {
    /// Normalise and validate an address typed by a person.
    pub fn parse(input: &str) -> Result<EmailAddress, EmailError> {
        let invalid = |why| Err(EmailError::Invalid(why));
        // Refuse floods before normalising; NFC never shrinks text more than ~3x.
        if input.len() > MAX_EMAIL_BYTES * 4 {
            return invalid("too long");
        }
        let trimmed = input.trim();
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("contains spaces or control characters");
        }
        // ASCII text is its own NFC form and lowercases byte by byte: one copy instead of
        // three (every verification parses the address it is given).
        let lower: String = if trimmed.is_ascii() {
            trimmed.to_ascii_lowercase()
        } else {
            let nfc: String = trimmed.nfc().collect();
            nfc.to_lowercase().nfc().collect()
        };
        if lower.is_empty() {
            return invalid("empty");
        }
        if lower.len() > MAX_EMAIL_BYTES {
            return invalid("too long");
        }
        let mut halves = lower.split('@');
        let (Some(local), Some(domain), None) = (halves.next(), halves.next(), halves.next())
        else {
            return invalid("must contain exactly one @");
        };
        if local.is_empty() {
            return invalid("nothing before the @");
        }
        if local.len() > MAX_LOCAL_BYTES {
            return invalid("the part before the @ is too long");
        }
        if !domain.contains('.') {
            return invalid("the domain needs a dot");
        }
        if domain.split('.').any(str::is_empty) {
            return invalid("the domain has an empty label");
        }
        Ok(EmailAddress(lower))
    }

    /// The normalised address, for storage and lookup.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hint safe to show before sign-in completes: first character of the local part, then
    /// `***`, then the domain, e.g. `"t***@example.com"` (see [`mask_email`]).
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one masking rule for email addresses, shown to people ([`EmailAddress::masked`]) and
/// written to logs (the delivery crate's masked recipients): the first character of the local
/// part, then `***@`, then the domain, e.g. `"t***@example.com"`. Enough to tell addresses
/// apart, not enough to harvest them. Takes any text, parsed or not: it splits at the last `@`
/// (text without one counts as all local part).
pub fn mask_email(addr: &str) -> String {
    let (local, domain) = addr.rsplit_once('@').unwrap_or((addr, ""));
    let first: String = local.chars().take(1).collect();
    format!("{first}***@{domain}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        let a = EmailAddress::parse("  ALICE@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "alice@example.com");
        assert_eq!(a, EmailAddress::parse("alice@example.com").unwrap());
        // NFC: e + combining acute == é
        let d = EmailAddress::parse("Jose\u{0301}@example.com").unwrap();
        assert_eq!(d.as_str(), "jos\u{e9}@example.com");
    }

    #[test]
    fn ascii_shortcut_matches_the_unicode_path() {
        // Every printable ASCII character, upper and lower case, in the local part: the
        // shortcut must store exactly what NFC + lowercase + NFC stores.
        for c in (0x21u8..0x7f).map(char::from).filter(|c| *c != '@') {
            let input = format!("A{c}b@Example.COM");
            let unicode_path: String = input
                .nfc()
                .collect::<String>()
                .to_lowercase()
                .nfc()
                .collect();
            assert_eq!(
                EmailAddress::parse(&input).unwrap().as_str(),
                unicode_path,
                "{input}"
            );
        }
    }

    #[test]
    fn confusables_stay_distinct() {
        let latin = EmailAddress::parse("alice@example.com").unwrap();
        let cyrillic = EmailAddress::parse("alice@ex\u{0430}mple.com").unwrap();
        assert_ne!(latin, cyrillic);
        assert_ne!(latin.as_str(), cyrillic.as_str());
    }

    #[test]
    fn masking() {
        assert_eq!(
            EmailAddress::parse("tom@example.com").unwrap().masked(),
            "t***@example.com"
        );
        assert_eq!(
            EmailAddress::parse("Ünal@example.com").unwrap().masked(),
            "ü***@example.com"
        );
        assert_eq!(EmailAddress::parse("a@b.c").unwrap().masked(), "a***@b.c");
    }

    #[test]
    fn mask_email_takes_unparsed_text() {
        assert_eq!(mask_email("Taro@Example.com"), "T***@Example.com");
        assert_eq!(mask_email("a@b@example.com"), "a***@example.com");
        assert_eq!(mask_email("@example.com"), "***@example.com");
    }

    #[test]
    fn refusals() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_total = format!("a@{}.com", "b".repeat(250));
        let huge = "a".repeat(100_000);
        for bad in [
            "",
            "   ",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "alice@@example.com",
            "alice@b@example.com",
            "alice@example..com",
            "alice@.example.com",
            "alice@example.com.",
            "al ice@example.com",
            "alice@exa\tmple.com",
            "alice\u{0}@example.com",
            "alice\u{7}@example.com",
            "alice@example\u{2028}.com",
            long_local.as_str(),
            long_total.as_str(),
            huge.as_str(),
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EmailAddress::parse(&format!("{}@example.com", "a".repeat(64))).is_ok());
    }
}
