//! What a secret's `value` names: a field of an item in a vault.
//!
//! Accepted forms (the vault of the short ones is the provider's `vault`):
//!
//! | value                          | vault     | item   | section | field      |
//! |--------------------------------|-----------|--------|---------|------------|
//! | `op://V/ITEM/FIELD`            | `V`       | `ITEM` |         | `FIELD`    |
//! | `op://V/ITEM/SECTION/FIELD`    | `V`       | `ITEM` | `SECTION` | `FIELD`  |
//! | `ITEM`                         | `vault`   | `ITEM` |         | `password` |
//! | `ITEM/FIELD`                   | `vault`   | `ITEM` |         | `FIELD`    |
//! | `ITEM/SECTION/FIELD`           | `vault`   | `ITEM` | `SECTION` | `FIELD`  |
//!
//! Names are taken as written: spaces, punctuation and non-ASCII characters
//! are fine, `/` is not (refer to such an item by its ID). A reference whose
//! names all fit op's secret-reference syntax ([`Reference::is_plain`]) is
//! read through an `op inject` template; any other is matched against the
//! item's JSON, so its names never reach a template or a shell.

use std::fmt;

use sesame_core::BackendError;

/// The field a secret resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Vault name or ID.
    pub vault: String,
    /// Item title or ID.
    pub item: String,
    /// Section label or ID, when the field is looked up in one section.
    pub section: Option<String>,
    /// Field label or ID (`password` also means the item's password field).
    pub field: String,
}

const FORMS: &str = "write `op://VAULT/ITEM/FIELD`, `op://VAULT/ITEM/SECTION/FIELD`, \
                     or, with `vault` set on the provider, `ITEM`, `ITEM/FIELD` or `ITEM/SECTION/FIELD`";

impl Reference {
    /// Parses a secret's `value`; `default_vault` is the provider's `vault`.
    pub fn parse(value: &str, default_vault: Option<&str>) -> Result<Self, BackendError> {
        if let Some(body) = value.strip_prefix("op://") {
            let parts: Vec<&str> = body.split('/').collect();
            if !(3..=4).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
                return Err(BackendError::failed(
                    format!(
                        "`{value}` is not a 1Password secret reference: it needs 3 or 4 non-empty parts after `op://`"
                    ),
                    Some(FORMS.into()),
                ));
            }
            let last = parts[parts.len() - 1];
            if let Some((_, query)) = last.split_once('?') {
                if query.contains('=') {
                    return Err(BackendError::failed(
                        format!("`{value}`: query parameters (`?{query}`) are not supported"),
                        Some(
                            "refer to the field itself; one-time passwords and SSH key formats are not supported"
                                .into(),
                        ),
                    ));
                }
            }
            return Ok(Self::from_parts(parts[0], &parts[1..]));
        }
        if value.contains("://") || value.starts_with("op:") {
            return Err(BackendError::failed(
                format!("`{value}` is not a 1Password secret reference (full references start with `op://`)"),
                Some(FORMS.into()),
            ));
        }
        let parts: Vec<&str> = value.split('/').collect();
        if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(BackendError::failed(
                format!(
                    "`{value}` is not a 1Password secret reference: expected ITEM, ITEM/FIELD or ITEM/SECTION/FIELD"
                ),
                Some(format!("{FORMS}; an item whose title holds `/` can be named by its ID")),
            ));
        }
        let Some(vault) = default_vault else {
            return Err(BackendError::failed(
                format!("`{value}` names no vault and the provider has no `vault`"),
                Some(
                    "set `vault = \"...\"` in the provider's table, or write a full reference `op://VAULT/ITEM/FIELD`"
                        .into(),
                ),
            ));
        };
        if parts.len() == 1 {
            return Ok(Self {
                vault: vault.into(),
                item: parts[0].into(),
                section: None,
                field: "password".into(),
            });
        }
        Ok(Self::from_parts(vault, &parts))
    }

    /// True if op's secret-reference syntax expresses this reference as
    /// written, so `{{ op://... }}` in an `op inject` template means exactly
    /// it: every name is made of the characters references allow (ASCII
    /// letters and digits, `-`, `_`, `.` and spaces) and neither starts nor
    /// ends with a space (op trims those inside `{{ }}`). Anything else
    /// (`$`, which op expands as a variable, `}}`, quotes, non-ASCII, ...)
    /// is read from the item's JSON instead.
    pub fn is_plain(&self) -> bool {
        let plain = |name: &str| {
            !name.is_empty()
                && !name.starts_with(' ')
                && !name.ends_with(' ')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b' '))
        };
        [&self.vault, &self.item, &self.field]
            .into_iter()
            .chain(self.section.as_ref())
            .all(|name| plain(name))
    }

    /// `vault` plus `[item, field]` or `[item, section, field]`.
    fn from_parts(vault: &str, rest: &[&str]) -> Self {
        let (item, section, field) = match rest {
            [item, field] => (item, None, field),
            [item, section, field] => (item, Some(section.to_string()), field),
            _ => unreachable!("callers pass 2 or 3 parts"),
        };
        Self {
            vault: vault.into(),
            item: item.to_string(),
            section,
            field: field.to_string(),
        }
    }
}

impl fmt::Display for Reference {
    /// The full `op://` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op://{}/{}/", self.vault, self.item)?;
        if let Some(section) = &self.section {
            write!(f, "{section}/")?;
        }
        f.write_str(&self.field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Reference, BackendError> {
        Reference::parse(value, Some("Development"))
    }

    #[test]
    fn the_seed_example_resolves_to_the_full_reference() {
        let r = parse("Cloudflare/api token").unwrap();
        assert_eq!(r.to_string(), "op://Development/Cloudflare/api token");
        assert_eq!(
            (r.item.as_str(), r.field.as_str(), r.section),
            ("Cloudflare", "api token", None)
        );
    }

    #[test]
    fn every_form() {
        let full = parse("op://Prod Vault/My Item/Admin/api key").unwrap();
        assert_eq!(
            full,
            Reference {
                vault: "Prod Vault".into(),
                item: "My Item".into(),
                section: Some("Admin".into()),
                field: "api key".into(),
            }
        );
        assert_eq!(parse("op://V/I/F").unwrap().to_string(), "op://V/I/F");
        assert_eq!(
            Reference::parse("op://V/I/F", None).unwrap().vault,
            "V",
            "full references need no vault"
        );
        assert_eq!(parse("Login").unwrap().to_string(), "op://Development/Login/password");
        assert_eq!(
            parse("Login/username").unwrap().to_string(),
            "op://Development/Login/username"
        );
        assert_eq!(
            parse("Login/Admin/user").unwrap().to_string(),
            "op://Development/Login/Admin/user"
        );
    }

    #[test]
    fn names_keep_spaces_punctuation_and_unicode() {
        let r = parse("  Café (prod) #1 ✓ /  clé: «api» ").unwrap();
        assert_eq!(r.item, "  Café (prod) #1 ✓ ");
        assert_eq!(r.field, "  clé: «api» ");
    }

    #[test]
    fn only_names_the_reference_syntax_allows_are_plain() {
        for plain in [
            "Cloudflare/api token",
            "op://Dev Vault/Service 1 api token/Admin/key-one_2.x",
            "Login",
            "op://V/abcdefghijklmnopqrstuvwxyz/F",
        ] {
            assert!(parse(plain).unwrap().is_plain(), "{plain}");
        }
        for odd in [
            "Café/x",
            "op://Équipe/DB/password",
            "Item/a }} b",
            "Item/{{ x",
            "Item/$HOME",
            "Item/${HOME}",
            "Item/what?",
            "Item/it's",
            "Item/tab\there",
            "Item/ leading",
            "Item/trailing ",
            "Item/Sect:ion/field",
            "-dash item/x:y",
        ] {
            assert!(!parse(odd).unwrap().is_plain(), "{odd}");
        }
    }

    #[test]
    fn malformed_values_are_explained() {
        for bad in [
            "op://V/I",
            "op://V/I/S/F/X",
            "op://V//F",
            "a/b/c/d",
            "a//b",
            "",
            "/x",
            "https://x/y",
            "op:/V/I/F",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("op://VAULT/ITEM/FIELD") || err.contains("ITEM/FIELD"),
                "{bad}: {err}"
            );
        }
        let err = parse("op://V/I/otp?attribute=otp").unwrap_err().to_string();
        assert!(err.contains("not supported"), "{err}");
        let err = Reference::parse("Login", None).unwrap_err().to_string();
        assert!(err.contains("no `vault`") && err.contains("hint"), "{err}");
    }
}
