//! The `op inject` template: every reference enclosed as
//! `{{ op://... }}` between markers holding a fresh random nonce, and the
//! values cut from op's output between those markers, byte for byte.

use std::io::Read;

use sesame_core::SecretValue;

use crate::reference::Reference;

/// A fresh 128-bit random nonce in hex, from the OS's random source.
pub(crate) fn nonce() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // RandomState's keys come from the OS's random source too.
        use std::hash::{BuildHasher, Hasher};
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_usize(i);
            hasher.write_u128(now);
            hasher.write_u32(std::process::id());
            chunk.copy_from_slice(&hasher.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The markers around the value of reference `index`.
fn markers(nonce: &str, index: usize) -> (String, String) {
    (
        format!("<sesame-{nonce}-begin-{index}>"),
        format!("<sesame-{nonce}-end-{index}>"),
    )
}

/// The `op inject` template: one line per reference,
/// `<sesame-NONCE-begin-N>{{ op://V/ITEM/[SECTION/]FIELD }}<sesame-NONCE-end-N>`.
/// The markers hold nothing op reads as a reference or a variable.
pub fn template(nonce: &str, references: &[&Reference]) -> String {
    let mut text = String::new();
    for (index, reference) in references.iter().enumerate() {
        let (begin, end) = markers(nonce, index);
        text.push_str(&format!("{begin}{{{{ {reference} }}}}{end}\n"));
    }
    text
}

/// The `count` values in what `op inject` printed for [`template`]: the
/// bytes between each pair of markers, exactly. A value cannot hold a
/// marker: the nonce is fresh and random, so text that looks like a marker
/// has another nonce. None if a marker is missing or a value is not UTF-8.
pub fn parse_injected(output: &[u8], nonce: &str, count: usize) -> Option<Vec<SecretValue>> {
    let mut values = Vec::with_capacity(count);
    let mut at = 0;
    for index in 0..count {
        let (begin, end) = markers(nonce, index);
        let start = at + find(&output[at..], begin.as_bytes())? + begin.len();
        let stop = start + find(&output[start..], end.as_bytes())?;
        values.push(SecretValue::new(std::str::from_utf8(&output[start..stop]).ok()?));
        at = stop + end.len();
    }
    Some(values)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(values: &[&str]) -> Vec<Reference> {
        values
            .iter()
            .map(|v| Reference::parse(v, Some("Dev Vault")).unwrap())
            .collect()
    }

    #[test]
    fn the_template_encloses_every_reference_between_markers() {
        let references = refs(&["Service 1 api token/key one", "op://V/I/Admin/account id", "Login"]);
        let references: Vec<&Reference> = references.iter().collect();
        let text = template("00ff", &references);
        assert_eq!(
            text,
            "<sesame-00ff-begin-0>{{ op://Dev Vault/Service 1 api token/key one }}<sesame-00ff-end-0>\n\
             <sesame-00ff-begin-1>{{ op://V/I/Admin/account id }}<sesame-00ff-end-1>\n\
             <sesame-00ff-begin-2>{{ op://Dev Vault/Login/password }}<sesame-00ff-end-2>\n"
        );
        assert!(!text.contains('$'), "nothing op would expand");
    }

    #[test]
    fn nonces_are_128_bit_hex_and_fresh() {
        let (a, b) = (nonce(), nonce());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn injected_values_are_cut_byte_for_byte() {
        let nonce = nonce();
        let other = nonce_unlike(&nonce);
        let values = [
            "multi\nline\n".to_string(),
            "a=b \"q\" 'x' ünï 😀 \r\n\t ".to_string(),
            String::new(),
            format!("<sesame-{other}-end-3><sesame-{other}-begin-4>looks like a marker"),
            "<sesame-begin-0>{{ op://V/I/F }}</sesame>".to_string(),
        ];
        let mut output = String::new();
        for (i, value) in values.iter().enumerate() {
            let (begin, end) = markers(&nonce, i);
            output.push_str(&format!("{begin}{value}{end}\n"));
        }
        let parsed = parse_injected(output.as_bytes(), &nonce, values.len()).unwrap();
        let parsed: Vec<&str> = parsed.iter().map(SecretValue::expose).collect();
        assert_eq!(parsed, values);
        assert!(parse_injected(output.as_bytes(), &nonce, values.len() + 1).is_none());
        assert!(parse_injected(output.as_bytes(), &other, 1).is_none());
        assert!(parse_injected(b"", &nonce, 1).is_none());
        let (begin, end) = markers(&nonce, 0);
        let mut bad = begin.into_bytes();
        bad.extend([0xff, 0xfe]);
        bad.extend(end.into_bytes());
        assert!(parse_injected(&bad, &nonce, 1).is_none(), "not UTF-8");
    }

    fn nonce_unlike(nonce: &str) -> String {
        loop {
            let other = super::nonce();
            if other != nonce {
                return other;
            }
        }
    }
}
