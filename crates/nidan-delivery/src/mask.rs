//! Masked recipients for logs: enough to tell messages apart (`+81***5678`, `t***@example.com`),
//! not enough to harvest addresses or phone numbers from a log file.

use nidan_domain::mask_email;

/// Masks an email address or phone number for a log line. Addresses follow the domain's one
/// rule ([`mask_email`], as shown to people); phone numbers keep the first three and last four
/// characters.
pub fn mask_recipient(to: &str) -> String {
    let to = to.trim();
    if to.contains('@') {
        return mask_email(to);
    }
    let chars: Vec<char> = to.chars().collect();
    if chars.len() >= 8 {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}***{tail}")
    } else {
        let tail: String = chars[chars.len().saturating_sub(2)..].iter().collect();
        format!("***{tail}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::mask_recipient;

    #[test]
    fn masks_phones_and_addresses() {
        assert_eq!(mask_recipient("+819012345678"), "+81***5678");
        assert_eq!(mask_recipient("taro@example.com"), "t***@example.com");
        assert_eq!(mask_recipient("12345"), "***45");
        assert_eq!(mask_recipient(""), "***");
    }
}
