//! Encrypting and decrypting one value with the `age` crate, in fnox's
//! format: standard base64 of the binary age file. ASCII armor (`age -a`)
//! and raw binary are read too. No cryptography here, only framing.

use std::io::{Read, Write};

use age::armor::ArmoredReader;
use base64::Engine;

/// What went wrong with one value. The messages never contain the value
/// (ciphertext or plaintext).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// None of the identities is a recipient of the value.
    #[error("none of the age identities can decrypt this value (wrong key)")]
    WrongKey,
    /// The value is not an age file (damaged, truncated, or not encrypted).
    #[error("the value is not valid age ciphertext ({0})")]
    Corrupt(String),
    /// The plaintext is not UTF-8 (environment variables are text).
    #[error("the decrypted value is not UTF-8 text")]
    NotText,
    /// A recipient in `recipients` does not parse.
    #[error("recipient {index} in `recipients` is not an age or SSH public key")]
    BadRecipient {
        /// Its position in the list, from 1.
        index: usize,
    },
    /// Encryption failed (no recipients, an I/O error in memory).
    #[error("age could not encrypt: {0}")]
    Encrypt(String),
}

/// The bytes of an age file written as `value`: base64 (fnox), else the
/// text itself (armor, which the reader recognises).
fn ciphertext_bytes(value: &str) -> Vec<u8> {
    let trimmed = value.trim();
    match base64::engine::general_purpose::STANDARD.decode(trimmed) {
        Ok(bytes) => bytes,
        Err(_) => trimmed.as_bytes().to_vec(),
    }
}

/// Decrypts `value` with the first identity that fits.
pub fn decrypt(value: &str, identities: &[Box<dyn age::Identity + Send + Sync>]) -> Result<String, CipherError> {
    let bytes = ciphertext_bytes(value);
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(bytes.as_slice())).map_err(describe)?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(describe)?;
    let mut plaintext = Vec::new();
    reader
        .read_to_end(&mut plaintext)
        .map_err(|e| CipherError::Corrupt(format!("payload: {}", e.kind())))?;
    String::from_utf8(plaintext).map_err(|e| {
        let mut bytes = e.into_bytes();
        bytes.fill(0);
        CipherError::NotText
    })
}

/// Values decrypted per thread before another thread is worth starting
/// (starting one costs about as much as decrypting a few values).
const VALUES_PER_THREAD: usize = 8;

/// Decrypts every value of `values` with `identities`, in order, spread
/// over the available cores (each value is one X25519 exchange, about as
/// expensive as the rest of a run for a few dozen values).
pub fn decrypt_all(
    values: &[&str],
    identities: &[Box<dyn age::Identity + Send + Sync>],
) -> Vec<Result<String, CipherError>> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = cores.min(values.len() / VALUES_PER_THREAD).max(1);
    if threads == 1 {
        return values.iter().map(|v| decrypt(v, identities)).collect();
    }
    let per_thread = values.len().div_ceil(threads);
    let decrypt_chunk = |chunk: &[&str]| chunk.iter().map(|v| decrypt(v, identities)).collect::<Vec<_>>();
    std::thread::scope(|scope| {
        let mut chunks = values.chunks(per_thread);
        let first = chunks.next().unwrap_or_default();
        // A thread that cannot be started (a process limit) leaves its
        // chunk to this one.
        let others: Vec<_> = chunks
            .map(|chunk| {
                std::thread::Builder::new()
                    .name("sesame-age".into())
                    .spawn_scoped(scope, move || decrypt_chunk(chunk))
                    .map_err(|_| chunk)
            })
            .collect();
        let mut results = decrypt_chunk(first);
        for other in others {
            match other {
                Ok(thread) => match thread.join() {
                    Ok(part) => results.extend(part),
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Err(chunk) => results.extend(decrypt_chunk(chunk)),
            }
        }
        results
    })
}

/// Maps age's errors to ours (age's texts name no data).
fn describe(error: age::DecryptError) -> CipherError {
    match error {
        age::DecryptError::NoMatchingKeys => CipherError::WrongKey,
        age::DecryptError::Io(e) => CipherError::Corrupt(format!("read error: {}", e.kind())),
        other => CipherError::Corrupt(other.to_string()),
    }
}

/// Parses recipients: age (`age1...`) or SSH (`ssh-ed25519 ...`, `ssh-rsa ...`)
/// public keys.
pub fn parse_recipients(recipients: &[String]) -> Result<Vec<Box<dyn age::Recipient + Send>>, CipherError> {
    recipients
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let text = text.trim();
            if let Ok(r) = text.parse::<age::x25519::Recipient>() {
                return Ok(Box::new(r) as Box<dyn age::Recipient + Send>);
            }
            text.parse::<age::ssh::Recipient>()
                .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
                .map_err(|_| CipherError::BadRecipient { index: index + 1 })
        })
        .collect()
}

/// Encrypts `plaintext` to `recipients`, in fnox's format (base64 of the
/// binary age file). Everything stays in memory.
pub fn encrypt(plaintext: &str, recipients: &[Box<dyn age::Recipient + Send>]) -> Result<String, CipherError> {
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
        .map_err(|e| CipherError::Encrypt(e.to_string()))?;
    let mut out = Vec::new();
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|e| CipherError::Encrypt(e.kind().to_string()))?;
    writer
        .write_all(plaintext.as_bytes())
        .and_then(|()| writer.finish().map(drop))
        .map_err(|e| CipherError::Encrypt(e.kind().to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn keypair() -> (Vec<Box<dyn age::Identity + Send + Sync>>, Vec<String>) {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public().to_string();
        (vec![Box::new(identity)], vec![recipient])
    }

    #[test]
    fn round_trip_keeps_every_byte() {
        let (identities, recipients) = keypair();
        let recipients = parse_recipients(&recipients).unwrap();
        for text in ["", "one", "two\nlines ünï\n", " spaced "] {
            let value = encrypt(text, &recipients).unwrap();
            assert!(!value.contains(text) || text.is_empty());
            assert_eq!(decrypt(&value, &identities).unwrap(), text);
        }
    }

    #[test]
    fn wrong_key_and_damage_are_told_apart() {
        let (_, recipients) = keypair();
        let (other, _) = keypair();
        let value = encrypt("canary-plaintext", &parse_recipients(&recipients).unwrap()).unwrap();
        assert_eq!(decrypt(&value, &other).unwrap_err(), CipherError::WrongKey);
        let mut damaged = value.clone();
        damaged.truncate(value.len() / 2);
        let err = decrypt(&damaged, &other).unwrap_err();
        assert!(matches!(err, CipherError::Corrupt(_)), "{err:?}");
        assert!(!err.to_string().contains(&damaged[..20]), "{err}");
    }

    #[test]
    fn many_values_decrypt_in_order_with_each_error_in_its_place() {
        let (identities, recipients) = keypair();
        let (_, strangers) = keypair();
        let (ours, theirs) = (
            parse_recipients(&recipients).unwrap(),
            parse_recipients(&strangers).unwrap(),
        );
        let mut values: Vec<String> = (0..41)
            .map(|i| encrypt(&format!("value-{i}"), &ours).unwrap())
            .collect();
        values[17] = encrypt("not for us", &theirs).unwrap();
        values[33].truncate(30);
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let results = decrypt_all(&refs, &identities);
        assert_eq!(results.len(), 41);
        for (i, result) in results.into_iter().enumerate() {
            match i {
                17 => assert_eq!(result.unwrap_err(), CipherError::WrongKey),
                33 => assert!(matches!(result.unwrap_err(), CipherError::Corrupt(_))),
                _ => assert_eq!(result.unwrap(), format!("value-{i}")),
            }
        }
        assert!(decrypt_all(&[], &identities).is_empty());
    }

    #[test]
    fn bad_recipient_is_named_by_position() {
        let err = parse_recipients(&["age1nope".into()]).err().unwrap();
        assert_eq!(err, CipherError::BadRecipient { index: 1 });
        let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@rust";
        assert_eq!(parse_recipients(&[ssh.into()]).unwrap().len(), 1);
        let _ =
            age::x25519::Recipient::from_str("age12tyf00mahxs3qhr5dx38f0jlkzy4m7qqryc7r3a9kyv87z3x5cwqzqeqgw").unwrap();
    }
}
