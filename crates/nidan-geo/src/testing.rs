//! A writer for tiny MaxMind-format (MMDB v2) country databases, for tests: the search tree over
//! IPv4 prefixes (24-bit records), the data section with `{"country": {"iso_code": …}}` maps, and
//! the metadata, following the MaxMind DB format specification.

use std::net::Ipv4Addr;

/// Builds an IPv4 country database mapping each `(network, prefix length, ISO code)`.
pub fn country_db(networks: &[(Ipv4Addr, u8, &str)]) -> Vec<u8> {
    // Data section: one record per distinct country.
    let mut data = Vec::new();
    let mut offsets: Vec<(String, usize)> = Vec::new();
    for (_, _, code) in networks {
        if offsets.iter().any(|(c, _)| c == code) {
            continue;
        }
        offsets.push(((*code).to_owned(), data.len()));
        map(&mut data, 1);
        string(&mut data, "country");
        map(&mut data, 1);
        string(&mut data, "iso_code");
        string(&mut data, code);
    }

    // Search tree: node i has two records (left = bit 0, right = bit 1).
    const EMPTY: u32 = u32::MAX;
    let mut nodes: Vec<[u32; 2]> = vec![[EMPTY, EMPTY]];
    let mut leaves: Vec<(usize, usize, usize)> = Vec::new(); // (node, side, data offset)
    for (net, len, code) in networks {
        let bits = u32::from(*net);
        let mut node = 0usize;
        for depth in 0..*len {
            let side = ((bits >> (31 - depth)) & 1) as usize;
            if depth + 1 == *len {
                let offset = offsets
                    .iter()
                    .find(|(c, _)| c == code)
                    .map(|(_, o)| *o)
                    .unwrap_or(0);
                leaves.push((node, side, offset));
            } else {
                if nodes[node][side] == EMPTY {
                    nodes.push([EMPTY, EMPTY]);
                    nodes[node][side] = (nodes.len() - 1) as u32;
                }
                node = nodes[node][side] as usize;
            }
        }
    }
    let node_count = nodes.len() as u32;
    let mut records: Vec<[u32; 2]> = nodes
        .iter()
        .map(|n| n.map(|r| if r == EMPTY { node_count } else { r }))
        .collect();
    for (node, side, offset) in leaves {
        // A data pointer: node_count + 16 + offset into the data section.
        records[node][side] = node_count + 16 + offset as u32;
    }

    let mut out = Vec::new();
    for [left, right] in records {
        out.extend_from_slice(&left.to_be_bytes()[1..]);
        out.extend_from_slice(&right.to_be_bytes()[1..]);
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    map(&mut out, 9);
    string(&mut out, "binary_format_major_version");
    uint16(&mut out, 2);
    string(&mut out, "binary_format_minor_version");
    uint16(&mut out, 0);
    string(&mut out, "build_epoch");
    uint64(&mut out, 1_700_000_000);
    string(&mut out, "database_type");
    string(&mut out, "nidan-test-Country");
    string(&mut out, "description");
    map(&mut out, 0);
    string(&mut out, "ip_version");
    uint16(&mut out, 4);
    string(&mut out, "languages");
    array(&mut out, 0);
    string(&mut out, "node_count");
    uint32(&mut out, node_count);
    string(&mut out, "record_size");
    uint16(&mut out, 24);
    out
}

fn control(out: &mut Vec<u8>, type_number: u8, size: usize) {
    // Types 1..=7 live in the control byte; higher ones are "extended" (type 0 + next byte).
    let size_bits = |out: &mut Vec<u8>, first: u8| {
        if size < 29 {
            out.push(first | size as u8);
        } else {
            out.push(first | 29);
            out.push((size - 29) as u8);
        }
    };
    if type_number <= 7 {
        size_bits(out, type_number << 5);
    } else {
        let at = out.len();
        size_bits(out, 0);
        out.insert(at + 1, type_number - 7);
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    control(out, 2, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn map(out: &mut Vec<u8>, entries: usize) {
    control(out, 7, entries);
}

fn array(out: &mut Vec<u8>, items: usize) {
    control(out, 11, items);
}

fn unsigned(out: &mut Vec<u8>, type_number: u8, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, type_number, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

fn uint16(out: &mut Vec<u8>, v: u16) {
    unsigned(out, 5, u64::from(v));
}

fn uint32(out: &mut Vec<u8>, v: u32) {
    unsigned(out, 6, u64::from(v));
}

fn uint64(out: &mut Vec<u8>, v: u64) {
    unsigned(out, 9, v);
}
