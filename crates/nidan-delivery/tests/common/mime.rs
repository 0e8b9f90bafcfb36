//! Just enough MIME to read what lettre sends: unfolded headers, RFC 2047 encoded words in the
//! subject, one level of multipart, base64 and quoted-printable bodies.

use data_encoding::BASE64_MIME_PERMISSIVE;

/// A decoded message.
#[derive(Debug)]
pub struct Mail {
    pub headers: Vec<(String, String)>,
    /// `(content type, decoded body)`, one per part (one entry for a single-part message).
    pub parts: Vec<(String, String)>,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn subject(&self) -> String {
        decode_words(self.header("Subject").unwrap_or(""))
    }

    pub fn part(&self, mime_type: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|(t, _)| t.to_ascii_lowercase().starts_with(mime_type))
            .map(|(_, b)| b.as_str())
    }
}

fn split_head(data: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = data
        .split_once("\r\n\r\n")
        .or_else(|| data.split_once("\n\n"))
        .unwrap_or((data, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    (headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or("", |(_, v)| v.as_str())
}

fn decode_body(headers: &[(String, String)], body: &str) -> String {
    match header(headers, "Content-Transfer-Encoding")
        .to_ascii_lowercase()
        .as_str()
    {
        "base64" => {
            let bytes = BASE64_MIME_PERMISSIVE
                .decode(body.trim().as_bytes())
                .unwrap();
            String::from_utf8(bytes).unwrap()
        }
        "quoted-printable" => quoted_printable(body, false),
        _ => body.to_owned(),
    }
}

fn quoted_printable(text: &str, underscore_is_space: bool) -> String {
    let text = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'_' if underscore_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`), dropping whitespace between adjacent ones.
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while !rest.is_empty() {
        match rest.find("=?") {
            Some(start) => {
                let before = &rest[..start];
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                let word = &rest[start + 2..];
                let mut fields = word.splitn(3, '?');
                let _charset = fields.next().unwrap();
                let encoding = fields.next().unwrap().to_ascii_lowercase();
                let tail = fields.next().unwrap();
                let end = tail.find("?=").unwrap();
                let text = &tail[..end];
                let decoded = if encoding == "b" {
                    String::from_utf8(BASE64_MIME_PERMISSIVE.decode(text.as_bytes()).unwrap())
                        .unwrap()
                } else {
                    quoted_printable(text, true)
                };
                out.push_str(&decoded);
                let consumed = rest.len() - tail.len() + end + 2;
                rest = &rest[consumed..];
                last_was_word = true;
            }
            None => {
                out.push_str(rest);
                rest = "";
            }
        }
    }
    out
}

/// Parses a message as received after DATA.
pub fn parse(data: &str) -> Mail {
    let (headers, body) = split_head(data);
    let content_type = header(&headers, "Content-Type").to_owned();
    let mut parts = Vec::new();
    if content_type.to_ascii_lowercase().starts_with("multipart/") {
        let boundary = content_type
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .unwrap()
            .trim_matches('"')
            .to_owned();
        let delimiter = format!("--{boundary}");
        for chunk in body.split(&delimiter).skip(1) {
            if chunk.starts_with("--") {
                break;
            }
            let chunk = chunk.trim_start_matches(['\r', '\n']);
            let (part_headers, part_body) = split_head(chunk);
            let part_body = part_body.strip_suffix("\r\n").unwrap_or(part_body);
            parts.push((
                header(&part_headers, "Content-Type").to_owned(),
                decode_body(&part_headers, part_body),
            ));
        }
    } else {
        parts.push((content_type, decode_body(&headers, body)));
    }
    Mail { headers, parts }
}
