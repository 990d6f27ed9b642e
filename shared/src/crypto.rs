//! Passwords (argon2id), opaque tokens and API keys (random, stored as SHA-256), and
//! application-level encryption (AES-256-GCM) for the secrets woolink must read back.

use std::fmt;
use std::sync::OnceLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::Password;
use crate::error::{Error, Result};

/// OWASP's argon2id floor: 19 MiB, 2 iterations, 1 lane.
const ARGON2_M_KIB: u32 = 19 * 1024;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;

fn argon2() -> Argon2<'static> {
    // The constants are valid parameters; `Params::new` only fails on out-of-range values.
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (CPU-heavy: call from a blocking thread).
pub fn hash_password(password: &Password) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("argon2: {e}")))
}

/// Verifies a password against a PHC string. With `None` it verifies against a fixed dummy
/// hash, so an unknown account costs the same time as a known one.
pub fn verify_password(password: &Password, phc: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash_password(&Password::trusted("woolink-timing-equaliser")).unwrap_or_default()
    });
    let (phc, real) = match phc {
        Some(p) => (p, true),
        None => (dummy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = argon2()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// SHA-256 of some bytes, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A bearer credential (login token or API key) as handed out once; only its hash is stored.
pub struct IssuedCredential {
    pub plaintext: String,
    pub hash: CredentialHash,
}

impl fmt::Debug for IssuedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCredential")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// SHA-256 hex of a bearer credential: what the tables hold and look up by.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct CredentialHash(String);

impl CredentialHash {
    pub fn of(plaintext: &str) -> Self {
        Self(sha256_hex(plaintext.as_bytes()))
    }
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn matches(&self, plaintext: &str) -> bool {
        ct_eq(
            self.0.as_bytes(),
            sha256_hex(plaintext.as_bytes()).as_bytes(),
        )
    }
}

/// 256 random bits, base64url, behind a short prefix that says what the credential is.
pub fn issue_credential(prefix: &str) -> IssuedCredential {
    let plaintext = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()));
    let hash = CredentialHash::of(&plaintext);
    IssuedCredential { plaintext, hash }
}

/// A webhook secret for WooCommerce: 256 random bits as hex, alphanumeric so WooCommerce's
/// HTML-entity decoding of the key never changes it.
pub fn new_webhook_secret() -> SecretString {
    SecretString::new(hex::encode(random_bytes::<32>()))
}

/// A string that must not be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A secret as stored: `v2.<key id>.` + base64(nonce || AES-256-GCM ciphertext), useless
/// without the key the id names. (Values sealed before key ids existed are `v1.` + base64,
/// and are opened by trying each key.)
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Sealed(String);

impl Sealed {
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The id of the key that sealed it (`None` for a `v1.` value).
    pub fn key_id(&self) -> Option<&str> {
        self.0
            .strip_prefix("v2.")?
            .split_once('.')
            .map(|(id, _)| id)
    }
}

/// One application key and its id: the first 8 bytes of SHA-256 over a label and the key,
/// in hex (names the key without revealing it).
#[derive(Clone)]
struct AppKey {
    id: String,
    cipher: Aes256Gcm,
}

impl AppKey {
    fn parse(key: &str) -> Result<Self> {
        let key = key.trim();
        let bytes =
            match STANDARD.decode(key) {
                Ok(k) if k.len() == 32 => k,
                _ if key.len() >= 32 => Sha256::digest(key.as_bytes()).to_vec(),
                _ => return Err(Error::internal(
                    "secrets key must be base64 of 32 bytes or a random string of 32+ characters",
                )),
            };
        let cipher = Aes256Gcm::new_from_slice(&bytes)
            .map_err(|_| Error::internal("secrets key must be 32 bytes"))?;
        let mut id = Sha256::new();
        id.update(b"woolink key id\0");
        id.update(&bytes);
        Ok(Self {
            id: hex::encode(&id.finalize()[..8]),
            cipher,
        })
    }

    fn decrypt(&self, blob: &[u8], context: &str) -> Option<Vec<u8>> {
        if blob.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = blob.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }
}

/// The application keys for secrets that must be read back: the current one seals, it and
/// the previous ones open (so the key can be rotated: `woolink keys reseal`). They never live
/// in the table.
#[derive(Clone)]
pub struct SecretBox {
    /// The current key first.
    keys: Vec<AppKey>,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

/// How a [`KeyRing`] fetches its keys when first asked.
pub type FetchKeys =
    Box<dyn Fn() -> futures::future::BoxFuture<'static, Result<SecretBox>> + Send + Sync>;

/// The application keys, given at start or fetched on first use (and fetched again after a
/// failed attempt). The webhook function starts the fetch beside the Lambda runtime, so a cold
/// start does not wait for Secrets Manager, and WooCommerce's pings and unknown stores, which
/// open nothing, never wait for it.
pub struct KeyRing {
    keys: tokio::sync::OnceCell<SecretBox>,
    fetch: Option<FetchKeys>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyRing([redacted])")
    }
}

impl KeyRing {
    pub fn ready(keys: SecretBox) -> Self {
        Self {
            keys: tokio::sync::OnceCell::new_with(Some(keys)),
            fetch: None,
        }
    }

    pub fn deferred(fetch: FetchKeys) -> Self {
        Self {
            keys: tokio::sync::OnceCell::new(),
            fetch: Some(fetch),
        }
    }

    /// The keys; the first callers wait for one fetch together.
    pub async fn get(&self) -> Result<&SecretBox> {
        self.keys
            .get_or_try_init(|| async {
                match &self.fetch {
                    Some(fetch) => fetch().await,
                    None => Err(Error::internal("no application key")),
                }
            })
            .await
    }
}

impl SecretBox {
    /// From the configured key: standard base64 of 32 bytes, or a random string of at least
    /// 32 characters (such as Secrets Manager generates), whose SHA-256 is the key.
    pub fn from_base64(key: &str) -> Result<Self> {
        Ok(Self {
            keys: vec![AppKey::parse(key)?],
        })
    }

    /// The current key and the previous ones still accepted for opening.
    pub fn with_previous(current: &str, previous: &[SecretString]) -> Result<Self> {
        let mut keys = vec![AppKey::parse(current)?];
        for p in previous {
            let key = AppKey::parse(p.expose())?;
            if keys.iter().all(|k| k.id != key.id) {
                keys.push(key);
            }
        }
        Ok(Self { keys })
    }

    /// The id of the key that seals now.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Whether `sealed` is sealed with the current key (nothing to re-seal).
    pub fn is_current(&self, sealed: &Sealed) -> bool {
        sealed.key_id() == Some(self.current_key_id())
    }

    /// A fresh random key (the local runner's default: data lives only in memory anyway).
    pub fn generate_key_base64() -> String {
        STANDARD.encode(random_bytes::<32>())
    }

    /// Encrypts `plaintext` with the current key, bound to `context` (e.g.
    /// `link/st_1/webhook`) so a sealed value cannot be moved to another item or field.
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<Sealed> {
        let key = &self.keys[0];
        let nonce_bytes = random_bytes::<12>();
        let ct = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("encryption failed"))?;
        let mut blob = Vec::with_capacity(12 + ct.len());
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&ct);
        Ok(Sealed(format!("v2.{}.{}", key.id, STANDARD.encode(blob))))
    }

    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<SecretString> {
        let fail = || Error::internal("a stored secret could not be decrypted");
        let plaintext = if let Some(rest) = sealed.0.strip_prefix("v2.") {
            let (id, b64) = rest.split_once('.').ok_or_else(fail)?;
            let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| {
                Error::internal(format!(
                    "a stored secret is sealed with key {id}, which is not configured"
                ))
            })?;
            let blob = STANDARD.decode(b64).map_err(|_| fail())?;
            key.decrypt(&blob, context).ok_or_else(fail)?
        } else {
            let b64 = sealed.0.strip_prefix("v1.").ok_or_else(fail)?;
            let blob = STANDARD.decode(b64).map_err(|_| fail())?;
            self.keys
                .iter()
                .find_map(|k| k.decrypt(&blob, context))
                .ok_or_else(fail)?
        };
        String::from_utf8(plaintext)
            .map(SecretString)
            .map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_owasp_parameters_and_verify() {
        let pw = Password::parse("correct horse battery staple").unwrap();
        let phc = hash_password(&pw).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password(&pw, Some(&phc)));
        let wrong = Password::parse("Correct horse battery staple").unwrap();
        assert!(!verify_password(&wrong, Some(&phc)));
        assert!(!verify_password(&pw, None));
        assert!(!verify_password(&pw, Some("not a phc")));
    }

    #[test]
    fn credentials_have_256_bits_and_are_stored_as_sha256() {
        let a = issue_credential("wlk_");
        let b = issue_credential("wlk_");
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(a.plaintext.len(), 4 + 43);
        assert_eq!(a.hash.as_str().len(), 64);
        assert!(a.hash.matches(&a.plaintext));
        assert!(!a.hash.matches(&b.plaintext));
        assert!(!format!("{a:?}").contains(&a.plaintext));
    }

    #[test]
    fn sealed_secrets_round_trip_and_are_bound_to_context() {
        let key = SecretBox::generate_key_base64();
        let sb = SecretBox::from_base64(&key).unwrap();
        let sealed = sb.seal("s3cret", "link/st_1/webhook").unwrap();
        assert!(!sealed.as_str().contains("s3cret"));
        assert_eq!(
            sb.open(&sealed, "link/st_1/webhook").unwrap().expose(),
            "s3cret"
        );
        assert!(sb.open(&sealed, "link/st_2/webhook").is_err());
        let other = SecretBox::from_base64(&SecretBox::generate_key_base64()).unwrap();
        assert!(other.open(&sealed, "link/st_1/webhook").is_err());
        assert_eq!(sealed.key_id(), Some(sb.current_key_id()));
        assert!(sb.is_current(&sealed));
        assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
        // A generated alphanumeric secret works too (its SHA-256 is the key).
        let generated = "Zq8xT2mN4vB7cR1yK6wP3sD9fH5jL0gA2eU8iO4tY7rE1wQ6zX3cV9bN5mK2lJ8h";
        let a = SecretBox::from_base64(generated).unwrap();
        let sealed = a.seal("x", "c").unwrap();
        assert_eq!(
            SecretBox::from_base64(generated)
                .unwrap()
                .open(&sealed, "c")
                .unwrap()
                .expose(),
            "x"
        );
    }

    /// Rotation: a box with a new current key and the old one as previous opens values of
    /// both (and `v1.` values from before key ids), seals with the new one only; a box
    /// without the old key names the key it lacks.
    #[test]
    fn keys_rotate() {
        let old_key = SecretBox::generate_key_base64();
        let new_key = SecretBox::generate_key_base64();
        let old = SecretBox::from_base64(&old_key).unwrap();
        let sealed_old = old.seal("s3cret", "c").unwrap();
        // A value as sealed before key ids: v1 + base64(nonce || ciphertext).
        let legacy = Sealed(format!(
            "v1.{}",
            sealed_old.as_str().rsplit_once('.').unwrap().1
        ));
        let both = SecretBox::with_previous(&new_key, &[SecretString::new(old_key)]).unwrap();
        assert_ne!(both.current_key_id(), old.current_key_id());
        for v in [&sealed_old, &legacy] {
            assert_eq!(both.open(v, "c").unwrap().expose(), "s3cret");
            assert!(!both.is_current(v));
        }
        let resealed = both.seal("s3cret", "c").unwrap();
        assert!(both.is_current(&resealed));
        let new_only = SecretBox::from_base64(&new_key).unwrap();
        assert_eq!(new_only.open(&resealed, "c").unwrap().expose(), "s3cret");
        let e = new_only.open(&sealed_old, "c").unwrap_err();
        assert!(
            e.cause().unwrap_or_default().contains(old.current_key_id())
                || format!("{e:?}").contains(old.current_key_id())
        );
        assert!(new_only.open(&legacy, "c").is_err());
    }

    #[test]
    fn webhook_secrets_are_alphanumeric() {
        let s = new_webhook_secret();
        assert_eq!(s.expose().len(), 64);
        assert!(s.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(format!("{s:?}"), "[redacted]");
    }
}
