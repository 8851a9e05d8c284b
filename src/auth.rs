//! Virtual keys: where a presented key comes from, how it is hashed, and how it is found.
//!
//! Keys are stored only as SHA-256 digests. Lookup hashes the presented key and finds the
//! digest in a hash map whose equality is `subtle`'s constant-time comparison, so no timing
//! of the comparison depends on how much of a stored digest a guess matched.

use http::HeaderMap;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A SHA-256 digest whose `==` runs in constant time.
#[derive(Clone, Copy, Debug)]
pub struct KeyDigest(pub [u8; 32]);

impl PartialEq for KeyDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for KeyDigest {}

impl Hash for KeyDigest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

pub fn digest(key: &str) -> KeyDigest {
    KeyDigest(Sha256::digest(key.as_bytes()).into())
}

/// Lower-case hex, as `tollgate hash-key` prints and `keys[].key_sha256` stores.
pub fn to_hex(d: &KeyDigest) -> String {
    d.0.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn parse_digest(hex: &str) -> Option<KeyDigest> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(KeyDigest(out))
}

/// Who a request is: the configured virtual key it presented.
#[derive(Debug)]
pub struct VirtualKey {
    pub name: String,
    pub team: Option<String>,
    /// `None`: every model.
    pub models: Option<HashSet<String>>,
    /// The redaction policy of this key, compiled; `None`: nothing is redacted.
    pub redaction: Option<std::sync::Arc<crate::redact::CompiledPolicy>>,
}

impl VirtualKey {
    pub fn allows(&self, model: &str) -> bool {
        self.models.as_ref().is_none_or(|m| m.contains(model))
    }
}

#[derive(Default)]
pub struct KeyIndex {
    by_digest: HashMap<KeyDigest, Arc<VirtualKey>>,
}

impl KeyIndex {
    pub fn insert(&mut self, digest: KeyDigest, key: VirtualKey) {
        self.by_digest.insert(digest, Arc::new(key));
    }

    pub fn lookup(&self, presented: &str) -> Option<Arc<VirtualKey>> {
        self.by_digest.get(&digest(presented)).cloned()
    }
}

/// The key a client presented: `Authorization: Bearer KEY` (what the OpenAI SDK sends) or
/// `x-api-key: KEY` (what the Anthropic SDK sends).
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some((scheme, rest)) = v.split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty() {
                return Some(rest.trim());
            }
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_round_trips_through_hex() {
        let d = digest("password");
        let hex = to_hex(&d);
        assert_eq!(
            hex,
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
        );
        assert_eq!(parse_digest(&hex), Some(d));
        assert_eq!(parse_digest("zz"), None);
        assert_eq!(parse_digest(&"g".repeat(64)), None);
    }

    #[test]
    fn lookup_finds_only_the_configured_key() {
        let mut idx = KeyIndex::default();
        idx.insert(
            digest("tg-a"),
            VirtualKey {
                name: "a".into(),
                team: None,
                models: None,
                redaction: None,
            },
        );
        assert_eq!(idx.lookup("tg-a").map(|k| k.name.clone()), Some("a".into()));
        assert!(idx.lookup("tg-b").is_none());
        assert!(idx.lookup("").is_none());
    }

    #[test]
    fn presented_key_reads_bearer_then_x_api_key() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("x-api-key", "k2".parse().unwrap());
        assert_eq!(presented_key(&h), Some("k2"));
        h.insert("authorization", "bearer  k1 ".parse().unwrap());
        assert_eq!(presented_key(&h), Some("k1"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(presented_key(&h), Some("k2"));
    }

    #[test]
    fn model_list_is_enforced() {
        let k = VirtualKey {
            name: "a".into(),
            team: None,
            models: Some(["demo".to_string()].into()),
            redaction: None,
        };
        assert!(k.allows("demo"));
        assert!(!k.allows("gpt-4o"));
    }
}
