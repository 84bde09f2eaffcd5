//! The event catalog: known event codes and the defaults an event inherits by naming one.
//!
//! The seed catalogs (`catalog/*.json`) are compiled into the binary; applications add
//! their own with [`Catalog::extend_from_json`]. A later entry with the same code replaces
//! an earlier one, so an application can override a built-in default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::event::{Importance, Severity};
use crate::CoreError;

/// One known event code and what an event with that code looks like by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// The code, e.g. `AUTH-001` or `TENANT_CREATED`.
    pub code: String,
    /// Human name, e.g. `User Login Success`.
    pub name: String,
    /// English description.
    pub description: String,
    /// Indonesian description, as the seed documents have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_id: Option<String>,
    /// Event category, e.g. `AUTH`.
    pub category: String,
    /// Event type, e.g. `USER_LOGIN`.
    pub event_type: String,
    /// The action such an event usually carries, e.g. `LOGIN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The outcome such an event has unless it says otherwise (e.g. `FAILED` for a failed
    /// login); absent means `SUCCESS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Default severity.
    pub severity: Severity,
    /// Default importance (MAJOR shows in the activity feed's headline view).
    pub importance: Importance,
    /// The data keys an event of this code should carry (documentation for clients).
    #[serde(default)]
    pub data_keys: Vec<String>,
    /// Icon name (Lucide) for display.
    pub icon: String,
    /// Display colour, `#rrggbb`.
    pub color: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    catalog: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    events: Vec<CatalogEntry>,
}

const BUILT_IN: &[(&str, &str)] = &[
    ("edupro", include_str!("../catalog/edupro.json")),
    ("platform", include_str!("../catalog/platform.json")),
    ("detection", include_str!("../catalog/detection.json")),
    ("library", include_str!("../catalog/library.json")),
];

/// All known event codes, looked up by code.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: BTreeMap<String, CatalogEntry>,
    sources: Vec<String>,
}

impl Catalog {
    /// The catalogs that ship with eventlog: the 84 codes of the EduPro event table, the
    /// 16 platform events of the licensing portal and the 2 attack kinds the detection
    /// engine adds (SEC-011 path traversal, SEC-012 command injection).
    pub fn built_in() -> Self {
        let mut catalog = Self::default();
        for (name, json) in BUILT_IN {
            catalog
                .extend_from_json(name, json)
                .expect("built-in catalogs are valid (checked by tests)");
        }
        catalog
    }

    /// Adds the entries of a catalog file (same format as the built-in ones).
    pub fn extend_from_json(&mut self, name: &str, json: &str) -> Result<(), CoreError> {
        let err = |message: String| CoreError::Catalog {
            name: name.to_owned(),
            message,
        };
        let file: CatalogFile = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
        for entry in &file.events {
            if entry.code.is_empty() || entry.code.len() > 64 {
                return Err(err(format!(
                    "code `{}` must be 1..=64 characters",
                    entry.code
                )));
            }
            if !is_hex_colour(&entry.color) {
                return Err(err(format!(
                    "{}: color `{}` is not #rrggbb",
                    entry.code, entry.color
                )));
            }
        }
        for entry in file.events {
            self.entries.insert(entry.code.clone(), entry);
        }
        self.sources.push(file.catalog);
        Ok(())
    }

    /// The entry for `code`, if known.
    pub fn get(&self, code: &str) -> Option<&CatalogEntry> {
        self.entries.get(code)
    }

    /// All entries, ordered by code.
    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.values()
    }

    /// Number of known codes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no code is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Names of the catalogs loaded, in load order.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }
}

fn is_hex_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_catalog_has_every_seed_code() {
        let catalog = Catalog::built_in();
        let prefixes = [
            ("AUTH", 10),
            ("DATA", 12),
            ("PRED", 10),
            ("MODEL", 10),
            ("SYS", 12),
            ("SEC", 10),
            ("ANLY", 10),
            ("ADMIN", 10),
        ];
        let mut total = 0;
        for (prefix, count) in prefixes {
            for n in 1..=count {
                let code = format!("{prefix}-{n:03}");
                assert!(catalog.get(&code).is_some(), "missing {code}");
            }
            total += count;
        }
        assert_eq!(total, 84);
        for code in [
            "TENANT_CREATED",
            "PROJECT_DELETED",
            "CODE_REVOKED",
            "DEVICE_ENROLLED",
            "CONFIG_UPDATED",
        ] {
            assert!(catalog.get(code).is_some(), "missing {code}");
        }
        assert_eq!(catalog.len(), 84 + 16 + 2 + 2);
        for kind in crate::detect::AttackKind::ALL {
            let entry = catalog
                .get(kind.code())
                .expect("every attack kind has a code");
            assert_eq!(entry.category, "SECURITY");
        }
        let login = catalog.get("AUTH-001").unwrap();
        assert_eq!(login.name, "User Login Success");
        assert_eq!(login.event_type, "USER_LOGIN");
        assert_eq!(login.severity, Severity::Info);
        assert_eq!(
            catalog.get("TENANT_CREATED").unwrap().importance,
            Importance::Major
        );
        assert_eq!(
            catalog.get("DEVICE_ENROLLED").unwrap().importance,
            Importance::Minor
        );
    }

    #[test]
    fn extra_catalog_overrides_and_rejects_bad_files() {
        let mut catalog = Catalog::built_in();
        let extra = r##"{"catalog":"shop","events":[{"code":"SHOP-001","name":"Order Placed",
            "description":"An order was placed","category":"DATA","event_type":"ORDER",
            "severity":"INFO","importance":"MAJOR","icon":"cart","color":"#123abc"}]}"##;
        catalog.extend_from_json("shop.json", extra).unwrap();
        assert_eq!(catalog.get("SHOP-001").unwrap().name, "Order Placed");
        assert!(catalog.sources().contains(&"shop".to_owned()));

        let bad = r#"{"catalog":"x","events":[{"code":"X","name":"n"}]}"#;
        let err = catalog.extend_from_json("x.json", bad).unwrap_err();
        assert!(err.to_string().contains("x.json"), "{err}");
    }
}
