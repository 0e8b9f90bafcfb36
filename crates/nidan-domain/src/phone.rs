//! Phone numbers for SMS codes: parsed from what people type (E.164, or national form with the
//! operator's default region; full-width digits from a Japanese IME too), validated against the
//! numbering plan, stored as E.164, and shown back masked (`+81 **-****-5678`).

use phonenumber::{Mode, country};

/// A valid phone number in E.164 form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    e164: String,
    international: String,
    calling_code: u16,
}

/// Why a phone number was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Not a phone number that can receive SMS in its numbering plan.
    #[error("`{0}` is not a valid phone number; use +<country code><number>, or the national form")]
    Invalid(String),
    /// The default region is not an ISO 3166-1 alpha-2 code known to the numbering plans.
    #[error("unknown region `{0}`")]
    UnknownRegion(String),
}

/// Longest input considered: a phone number with spaces is far shorter.
const MAX_INPUT: usize = 64;

impl PhoneNumber {
    /// Parses `input`, reading national numbers in `default_region` (e.g. `JP`).
    pub fn parse(input: &str, default_region: &str) -> Result<PhoneNumber, PhoneError> {
        let region: country::Id = default_region
            .parse()
            .map_err(|_| PhoneError::UnknownRegion(default_region.to_owned()))?;
        let shown: String = input.chars().take(MAX_INPUT).collect();
        if input.chars().count() > MAX_INPUT || input.chars().any(char::is_control) {
            return Err(PhoneError::Invalid(shown));
        }
        // Full-width ASCII (IME input) to ASCII, as for codes.
        let ascii: String = input
            .chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                '\u{3000}' => ' ',
                c => c,
            })
            .collect();
        if !ascii
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(PhoneError::Invalid(shown));
        }
        // A number written with `+` carries its own country: the default region is only for
        // national forms (with it, the parser reads some `+` numbers differently per region).
        let region = (!ascii.trim_start().starts_with('+')).then_some(region);
        let number = phonenumber::parse(region, ascii.trim())
            .map_err(|_| PhoneError::Invalid(shown.clone()))?;
        if !number.is_valid() {
            return Err(PhoneError::Invalid(shown));
        }
        let e164 = number.format().mode(Mode::E164).to_string();
        // E.164 numbers have at most 15 digits (ITU-T E.164 §6.1); and the stored form must be one
        // nidan accepts again on its own, whatever the default region, or a number enrolled once
        // could not be typed back as nidan shows it.
        if e164.chars().filter(char::is_ascii_digit).count() > 15 {
            return Err(PhoneError::Invalid(shown));
        }
        let canonical =
            phonenumber::parse(None, &e164).map_err(|_| PhoneError::Invalid(shown.clone()))?;
        if !canonical.is_valid() || canonical.format().mode(Mode::E164).to_string() != e164 {
            return Err(PhoneError::Invalid(shown));
        }
        Ok(PhoneNumber {
            international: canonical.format().mode(Mode::International).to_string(),
            calling_code: canonical.code().value(),
            e164,
        })
    }

    /// `+819012345678`.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// The country calling code: `81` for `+819012345678`.
    pub fn calling_code(&self) -> u16 {
        self.calling_code
    }

    /// Every digit hidden but the country code and the last four: `+81 **-****-5678`.
    pub fn masked(&self) -> String {
        mask_international(&self.international)
    }
}

/// Masks an international-format number, or an E.164 one (then without grouping).
pub fn mask_international(international: &str) -> String {
    let (cc, rest) = match international.split_once(' ') {
        Some((cc, rest)) => (cc.to_owned(), rest.to_owned()),
        None => {
            // E.164 without spaces: keep "+" and up to 3 leading digits unmasked is not knowable
            // without the plan; keep only the plus sign.
            (
                "+".to_owned(),
                international.trim_start_matches('+').to_owned(),
            )
        }
    };
    let digits = rest.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    let masked: String = rest
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen + 4 > digits { c } else { '*' }
            } else {
                c
            }
        })
        .collect();
    if cc == "+" {
        format!("+{masked}")
    } else {
        format!("{cc} {masked}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn national_and_international_forms_give_the_same_e164() {
        let a = PhoneNumber::parse("090-1234-5678", "JP").unwrap();
        let b = PhoneNumber::parse("+81 90 1234 5678", "US").unwrap();
        let c = PhoneNumber::parse("０９０－１２３４－５６７８", "JP").unwrap();
        assert_eq!(a.e164(), "+819012345678");
        assert_eq!(a, b);
        assert_eq!(a, c, "full-width IME input");
        assert_eq!(a.masked(), "+81 **-****-5678");
    }

    #[test]
    fn invalid_numbers_are_refused() {
        for bad in [
            "12",
            "abc",
            "+81 0",
            "090-1234-5678\u{0}",
            "+1 555 0100 99999999999",
            "९०१२३४५६७८",
        ] {
            assert!(PhoneNumber::parse(bad, "JP").is_err(), "{bad}");
        }
        assert_eq!(
            PhoneNumber::parse("090-1234-5678", "XX"),
            Err(PhoneError::UnknownRegion("XX".into()))
        );
    }

    #[test]
    fn masking_keeps_only_the_last_four_digits() {
        assert_eq!(mask_international("+1 415-555-2671"), "+1 ***-***-2671");
        assert_eq!(mask_international("+14155552671"), "+*******2671");
    }
}
