//! [`SecretValue`]: the one type that holds a secret in memory.
//!
//! Its `Debug` and `Display` never show the value, so a secret cannot reach a
//! log line, an error message or a panic by accident. Reading the value is an
//! explicit call to [`SecretValue::expose`], easy to find in review. Every
//! value is registered with [`crate::scrub`] when it is created, so text
//! that quotes it (a server's error body, say) is scrubbed too.

use std::fmt;

/// A secret value whose formatting is redacted.
///
/// ```
/// use sesame_core::SecretValue;
/// let token = SecretValue::new("hunter2");
/// assert_eq!(format!("{token:?}"), "SecretValue(<redacted>)");
/// assert_eq!(token.to_string(), "<redacted>");
/// assert_eq!(token.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value and registers it with the process-wide scrubber
    /// ([`crate::scrub`]), so no text sesame writes can show it.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        crate::scrub::register(&value);
        Self(value)
    }

    /// Wraps text that is not yet a value (a `default` as written, with
    /// its `${NAME}` placeholders) without registering it with the
    /// scrubber: it is literal text of a config file, which messages may
    /// quote. What it expands to is registered when it is made.
    pub(crate) fn template(text: String) -> Self {
        Self(text)
    }

    /// The secret itself. Call this only where the value leaves sesame on
    /// purpose: a child's environment, an API request, `get`/`export` output.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Consumes the wrapper and returns the value.
    pub fn into_exposed(self) -> String {
        std::mem::take(&mut { self }.0)
    }

    /// True when the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is freed.
        // SAFETY: writing zero bytes keeps the buffer valid UTF-8.
        unsafe { self.0.as_bytes_mut() }.fill(0);
    }
}

impl serde::Serialize for SecretValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SecretValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = SecretValue::new("s3cr3t-canary");
        for rendered in [
            format!("{s:?}"),
            format!("{s:#?}"),
            format!("{s}"),
            format!("{:?}", Some(&s)),
        ] {
            assert!(!rendered.contains("s3cr3t"), "{rendered}");
        }
    }
}
