//! Reading the seed file of `nidan admin totp import`: rows of `email,base32_secret` exported
//! from another system. Only the shape is checked here (two fields a row); whether an email or
//! a secret is valid is the service's call, and it reports the same line numbers.
//!
//! Skipped: a header on the first line (`email,secret`, or anything starting with `email,`),
//! blank lines, and lines starting with `#`. A UTF-8 byte-order mark (spreadsheet exports) is
//! ignored. Fields are trimmed. Quoting is not supported: neither emails nor base32 need it.

/// A row of the file: 1-based line number, email, secret.
pub type Row = (usize, String, String);

/// A line that is not a row, with its 1-based number.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected 2 fields (email,base32_secret), found {found}")]
pub struct ShapeError {
    /// 1-based line number.
    pub line: usize,
    /// How many comma-separated fields it had.
    pub found: usize,
}

/// Splits the file's text into rows.
pub fn parse(text: &str) -> Result<Vec<Row>, ShapeError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line == 1 && trimmed.to_ascii_lowercase().starts_with("email,") {
            continue;
        }
        let fields: Vec<&str> = trimmed.split(',').map(str::trim).collect();
        match fields.as_slice() {
            [email, secret] => rows.push((line, (*email).to_owned(), (*secret).to_owned())),
            _ => {
                return Err(ShapeError {
                    line,
                    found: fields.len(),
                });
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn header_blanks_and_comments_are_skipped_and_lines_keep_their_numbers() {
        let rows = parse("\u{feff}Email,Secret\n\n# from the old system\n a@x.com , JBSW Y3DP \r\nb@x.com,KRSXG5A\n").unwrap();
        assert_eq!(
            rows,
            vec![
                (4, "a@x.com".to_owned(), "JBSW Y3DP".to_owned()),
                (5, "b@x.com".to_owned(), "KRSXG5A".to_owned())
            ]
        );
    }

    #[test]
    fn a_header_is_only_skipped_on_the_first_line() {
        assert_eq!(parse("a@x.com,AAAA\nemail,secret\n").unwrap().len(), 2);
    }

    #[test]
    fn a_row_with_the_wrong_field_count_names_its_line() {
        assert_eq!(
            parse("a@x.com,AAAA\n\nb@x.com\n"),
            Err(ShapeError { line: 3, found: 1 })
        );
        assert_eq!(
            parse("a@x.com,AAAA,extra\n"),
            Err(ShapeError { line: 1, found: 3 })
        );
    }

    #[test]
    fn an_empty_file_has_no_rows() {
        assert!(parse("email,secret\n").unwrap().is_empty());
    }
}
