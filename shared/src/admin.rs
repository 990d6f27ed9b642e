//! Operator use cases (tenants, users, stores) and the seed file that bundles them. Every
//! command is idempotent: running it twice changes nothing the second time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore;
use serde::Deserialize;

use crate::crypto::SecretBox;
use crate::crypto::{hash_password, verify_password, SecretString};
use crate::domain::{CustomerId, Email, Password, Scope, StoreId, TenantCode};
use crate::error::{Error, Result};
use crate::model::{
    DocumentSettings, DocumentVersion, Fulfilment, Store, Tenant, TenantApiKey, User,
};
use crate::outbound::OutboundPolicy;
use crate::ports::{Links, Stores, TenantKeys, Tenants, Users, Written};
use crate::secrets::{self, Sealing};

/// The ports the operator's use cases use.
pub struct Admin<'a> {
    pub tenants: &'a dyn Tenants,
    pub tenant_keys: &'a dyn TenantKeys,
    pub users: &'a dyn Users,
    pub stores: &'a dyn Stores,
    pub links: &'a dyn Links,
    pub secrets: &'a SecretBox,
    pub outbound: &'a OutboundPolicy,
}

/// A new Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes.
pub fn new_signing_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::new(format!("whsec_{}", STANDARD.encode(bytes)))
}

fn check_signing_secret(secret: &str) -> Result<()> {
    let valid = secret
        .strip_prefix("whsec_")
        .and_then(|b| STANDARD.decode(b).ok())
        .is_some_and(|k| (24..=64).contains(&k.len()));
    if valid {
        Ok(())
    } else {
        Err(Error::invalid_request(
            "the fulfilment secret must be whsec_ followed by base64 of 24-64 bytes",
        ))
    }
}

async fn require_tenant(ports: &Admin<'_>, tenant: &TenantCode) -> Result<Tenant> {
    match ports.tenants.get_tenant(tenant).await? {
        Some(t) => Ok(t),
        None => Err(Error::new(
            crate::error::ErrorKind::TenantNotFound,
            format!("tenant {tenant} does not exist"),
        )),
    }
}

/// A tenant's or store's name, trimmed: 1-200 characters.
fn display_name<'a>(what: &str, name: &'a str) -> Result<&'a str> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::invalid_request(format!(
            "{what} name must be 1-200 characters"
        )));
    }
    Ok(name)
}

/// Prefix of tenant API keys.
pub const TENANT_KEY_PREFIX: &str = "wlt_";

/// A tenant API key as a seed file gives it: the key in clear (hashed on load), its scopes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApiKey {
    pub key: String,
    pub scopes: Vec<String>,
}

/// Creates a tenant API key with `scopes`: the key in clear (shown once, never stored) and
/// what is stored of it.
pub async fn create_tenant_key(
    ports: &Admin<'_>,
    tenant: &TenantCode,
    scopes: &[Scope],
) -> Result<(SecretString, TenantApiKey)> {
    let issued = crate::crypto::issue_credential(TENANT_KEY_PREFIX);
    let key = add_tenant_key(ports, tenant, &issued.plaintext, scopes).await?;
    Ok((SecretString::new(issued.plaintext), key))
}

/// Stores the given key (a seed file's fixed key) for `tenant`; one stored already is left
/// as it is (`Unchanged`), so a seed can be applied again.
pub async fn put_fixed_tenant_key(
    ports: &Admin<'_>,
    tenant: &TenantCode,
    plaintext: &str,
    scopes: &[Scope],
) -> Result<Written> {
    let valid = plaintext
        .strip_prefix(TENANT_KEY_PREFIX)
        .is_some_and(|rest| rest.len() >= 32 && rest.bytes().all(|b| b.is_ascii_graphic()));
    if !valid {
        return Err(Error::invalid_request(
            "a tenant API key is wlt_ followed by at least 32 visible characters",
        ));
    }
    let hash = crate::crypto::CredentialHash::of(plaintext);
    if let Some(existing) = ports.tenant_keys.find_tenant_key(&hash).await? {
        if &existing.tenant != tenant {
            return Err(Error::new(
                crate::error::ErrorKind::Conflict,
                "this API key belongs to another tenant",
            ));
        }
        return Ok(Written::Unchanged);
    }
    add_tenant_key(ports, tenant, plaintext, scopes).await?;
    Ok(Written::Created)
}

async fn add_tenant_key(
    ports: &Admin<'_>,
    tenant: &TenantCode,
    plaintext: &str,
    scopes: &[Scope],
) -> Result<TenantApiKey> {
    require_tenant(ports, tenant).await?;
    if scopes.is_empty() {
        return Err(Error::invalid_request(
            "a tenant API key needs at least one scope",
        ));
    }
    let mut id = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let key = TenantApiKey {
        id: format!("tk_{}", hex::encode(id)),
        tenant: tenant.clone(),
        hash: crate::crypto::CredentialHash::of(plaintext),
        scopes: scopes.to_vec(),
        created_at: chrono::Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    ports.tenant_keys.put_tenant_key(&key).await?;
    tracing::info!(tenant = %tenant, key = %key.id, "tenant API key created");
    Ok(key)
}

/// The tenant's keys (never the keys themselves: only ids, scopes and times).
pub async fn list_tenant_keys(ports: &Admin<'_>, tenant: &TenantCode) -> Result<Vec<TenantApiKey>> {
    require_tenant(ports, tenant).await?;
    ports.tenant_keys.list_tenant_keys(tenant).await
}

/// Revokes key `id` of `tenant` (from then on it authorises nothing); revoking again is a
/// no-op. An unknown id is `NotFound`.
pub async fn revoke_tenant_key(
    ports: &Admin<'_>,
    tenant: &TenantCode,
    id: &str,
) -> Result<TenantApiKey> {
    let key = ports
        .tenant_keys
        .revoke_tenant_key(tenant, id, chrono::Utc::now())
        .await?
        .ok_or_else(|| {
            Error::new(
                crate::error::ErrorKind::NotFound,
                format!("tenant {tenant} has no API key {id}"),
            )
        })?;
    tracing::info!(tenant = %tenant, key = %key.id, "tenant API key revoked");
    Ok(key)
}

/// A tenant as an operator describes it.
pub struct TenantSpec {
    pub code: TenantCode,
    pub name: String,
    pub active: bool,
    /// Fulfilment URL and its `whsec_` secret.
    pub fulfilment: Option<(String, SecretString)>,
    /// The order document settings; `None` keeps an existing tenant's (a new one gets
    /// `DocumentSettings::current()`).
    pub document: Option<DocumentSettings>,
}

/// Checks a tenant's order document settings: method ids and meta keys as WooCommerce
/// spells them, a bounded number of each.
pub fn check_document_settings(d: &DocumentSettings) -> Result<()> {
    let key_like = |s: &String| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    };
    if d.cod_methods.len() > 20 || !d.cod_methods.iter().all(key_like) {
        return Err(Error::invalid_request(
            "cash-on-delivery methods: at most 20 payment method ids (letters, digits, '_', '-', '.')",
        ));
    }
    if d.order_meta_keys.len() > 50 || !d.order_meta_keys.iter().all(key_like) {
        return Err(Error::invalid_request(
            "order meta keys: at most 50 keys (letters, digits, '_', '-', '.')",
        ));
    }
    Ok(())
}

pub async fn put_tenant(ports: &Admin<'_>, spec: TenantSpec) -> Result<Written> {
    let name = display_name("tenant", &spec.name)?;
    let existing = ports.tenants.get_tenant(&spec.code).await?;
    let fulfilment = match spec.fulfilment {
        None => None,
        Some((url, secret)) => {
            let parsed = url::Url::parse(&url)
                .map_err(|_| Error::invalid_request("the fulfilment URL is not a URL"))?;
            ports.outbound.check_url(&parsed).map_err(|e| {
                Error::invalid_request(format!("fulfilment URL refused: {}", e.message()))
            })?;
            check_signing_secret(secret.expose())?;
            let what = Sealing::Fulfilment(&spec.code);
            // Keep the stored ciphertext when nothing changed, so a re-run is a no-op.
            let unchanged = existing
                .as_ref()
                .and_then(|t| t.fulfilment.as_ref())
                .filter(|f| f.url == url)
                .and_then(|f| secrets::open(ports.secrets, &f.secret, what).ok())
                .is_some_and(|old| old.expose() == secret.expose());
            let sealed = match existing.as_ref().and_then(|t| t.fulfilment.clone()) {
                Some(f) if unchanged => f.secret,
                _ => secrets::seal(ports.secrets, secret.expose(), what)?,
            };
            Some(Fulfilment {
                url,
                secret: sealed,
            })
        }
    };
    let document = match spec.document {
        Some(d) => {
            check_document_settings(&d)?;
            d
        }
        None => existing
            .as_ref()
            .map_or_else(DocumentSettings::current, |t| t.document.clone()),
    };
    let tenant = Tenant {
        code: spec.code,
        name: name.to_owned(),
        active: spec.active,
        fulfilment,
        document,
    };
    if existing.as_ref() == Some(&tenant) {
        return Ok(Written::Unchanged);
    }
    ports.tenants.put_tenant(&tenant).await
}

/// An operator's change to a tenant (`woolink tenant create`): what is `None` is kept, so
/// running it twice changes nothing and never replaces the signing secret behind the
/// tenant's back. A new tenant needs a name; a new endpoint gets a new secret unless one is
/// given; moving an existing endpoint keeps its secret (as `PUT /v1/tenant/fulfilment` does).
#[derive(Debug, Default)]
pub struct TenantChange {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub fulfilment_url: Option<String>,
    /// A `whsec_` secret to set (a new one is generated for a new endpoint).
    pub fulfilment_secret: Option<SecretString>,
}

/// Creates a tenant or changes what `change` names. Answers what was written and, when it
/// generated a signing secret, that secret (to hand to the tenant once).
pub async fn change_tenant(
    ports: &Admin<'_>,
    code: &TenantCode,
    change: TenantChange,
) -> Result<(Written, Option<SecretString>)> {
    let existing = ports.tenants.get_tenant(code).await?;
    let name = match (change.name, &existing) {
        (Some(n), _) => n,
        (None, Some(t)) => t.name.clone(),
        (None, None) => {
            return Err(Error::invalid_request(format!(
                "tenant {code} does not exist yet: give it a name (--name)"
            )))
        }
    };
    let stored = existing.as_ref().and_then(|t| t.fulfilment.as_ref());
    let mut generated = None;
    let fulfilment = match (change.fulfilment_url, change.fulfilment_secret, stored) {
        (None, None, None) => None,
        (None, Some(_), None) => {
            return Err(Error::invalid_request(
                "a signing secret needs a fulfilment URL (--fulfilment-url)",
            ))
        }
        (url, Some(secret), stored) => {
            let url = url.or_else(|| stored.map(|f| f.url.clone()));
            url.map(|u| (u, secret))
        }
        (url, None, Some(f)) => {
            let secret = secrets::open(ports.secrets, &f.secret, Sealing::Fulfilment(code))?;
            Some((url.unwrap_or_else(|| f.url.clone()), secret))
        }
        (Some(url), None, None) => {
            let secret = new_signing_secret();
            generated = Some(SecretString::new(secret.expose().to_owned()));
            Some((url, secret))
        }
    };
    let written = put_tenant(
        ports,
        TenantSpec {
            code: code.clone(),
            name,
            active: change
                .active
                .unwrap_or_else(|| existing.as_ref().is_none_or(|t| t.active)),
            fulfilment,
            document: None,
        },
    )
    .await?;
    Ok((written, generated))
}

/// Gives the tenant's fulfilment endpoint a new signing secret (`secret`, or a generated
/// one, answered to hand to the tenant once). The tenant must verify with the new one from
/// the next delivery on.
pub async fn rotate_signing_secret(
    ports: &Admin<'_>,
    code: &TenantCode,
    secret: Option<SecretString>,
) -> Result<SecretString> {
    let tenant = require_tenant(ports, code).await?;
    let Some(f) = tenant.fulfilment.as_ref() else {
        return Err(Error::invalid_request(format!(
            "tenant {code} has no fulfilment URL: set one with tenant create --fulfilment-url"
        )));
    };
    let secret = secret.unwrap_or_else(new_signing_secret);
    put_tenant(
        ports,
        TenantSpec {
            code: code.clone(),
            name: tenant.name.clone(),
            active: tenant.active,
            fulfilment: Some((f.url.clone(), SecretString::new(secret.expose().to_owned()))),
            document: None,
        },
    )
    .await?;
    Ok(secret)
}

/// Changes to a tenant's order document settings; `None` keeps what is there.
#[derive(Debug, Default)]
pub struct DocumentChanges {
    pub version: Option<DocumentVersion>,
    pub cod_methods: Option<Vec<String>>,
    pub order_meta_keys: Option<Vec<String>>,
}

/// Switches a tenant's order document (version, cash-on-delivery methods, order meta
/// allow-list), keeping everything else; takes effect for the next order delivered.
pub async fn set_document_settings(
    ports: &Admin<'_>,
    tenant: &TenantCode,
    changes: DocumentChanges,
) -> Result<(Written, DocumentSettings)> {
    let mut t = require_tenant(ports, tenant).await?;
    let before = t.document.clone();
    if let Some(v) = changes.version {
        t.document.version = v;
    }
    if let Some(m) = changes.cod_methods {
        t.document.cod_methods = m;
    }
    if let Some(k) = changes.order_meta_keys {
        t.document.order_meta_keys = k;
    }
    check_document_settings(&t.document)?;
    if t.document == before {
        return Ok((Written::Unchanged, before));
    }
    let settings = t.document.clone();
    ports.tenants.put_tenant(&t).await?;
    tracing::info!(tenant = %tenant, version = settings.version.number(), "order document settings changed");
    Ok((Written::Updated, settings))
}

pub async fn put_store(
    ports: &Admin<'_>,
    tenant: &TenantCode,
    id: StoreId,
    name: &str,
    customer: CustomerId,
) -> Result<Written> {
    require_tenant(ports, tenant).await?;
    let name = display_name("store", name)?;
    ports
        .stores
        .put_store(&Store {
            id,
            tenant: tenant.clone(),
            name: name.to_owned(),
            customer_id: customer,
        })
        .await
}

pub async fn put_user(
    ports: &Admin<'_>,
    tenant: &TenantCode,
    email: &Email,
    password: Password,
) -> Result<Written> {
    require_tenant(ports, tenant).await?;
    hash_and_put_user(ports, tenant, email, password).await
}

/// The seed file format (README.md, "The local runner").
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    pub tenants: Vec<SeedTenant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SeedTenant {
    pub code: TenantCode,
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub fulfilment: Option<SeedFulfilment>,
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub stores: Vec<SeedStore>,
    /// Fixed tenant API keys (local runs, demos, tests), hashed on load.
    #[serde(default)]
    pub api_keys: Vec<SeedApiKey>,
    /// Order document settings (default: version 2, `cod` only, no order meta).
    #[serde(default)]
    pub document: Option<SeedDocument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SeedDocument {
    #[serde(default = "two")]
    pub version: u8,
    #[serde(default)]
    pub cod_methods: Vec<String>,
    #[serde(default)]
    pub order_meta_keys: Vec<String>,
}

fn two() -> u8 {
    2
}

impl SeedDocument {
    pub fn settings(&self) -> Result<DocumentSettings> {
        let version = DocumentVersion::from_number(self.version)
            .ok_or_else(|| Error::invalid_request("seed file: document.version must be 1 or 2"))?;
        Ok(DocumentSettings {
            version,
            cod_methods: self.cod_methods.clone(),
            order_meta_keys: self.order_meta_keys.clone(),
        })
    }
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFulfilment {
    pub url: String,
    pub secret: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub email: Email,
    pub password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SeedStore {
    pub id: StoreId,
    pub name: String,
    pub customer_id: CustomerId,
}

impl Seed {
    pub fn parse(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::invalid_request(format!("seed file: {e}")))
    }

    /// The local runner's demo: one tenant, one user, two stores, fulfilment to the local inbox.
    pub fn demo(inbox_url: &str, secret: &SecretString) -> Self {
        let json = serde_json::json!({"tenants": [{
            "code": DEMO_TENANT, "name": "Demo Couriers", "active": true,
            "fulfilment": {"url": inbox_url, "secret": secret.expose()},
            "users": [{"email": DEMO_EMAIL, "password": DEMO_PASSWORD}],
            "stores": [
                {"id": "st_demo_1", "name": "Demo Shop", "customerId": "cus_demo_1"},
                {"id": "st_demo_2", "name": "Demo Outlet", "customerId": "cus_demo_2"}
            ],
            "apiKeys": [{"key": DEMO_API_KEY,
                "scopes": ["stores:read", "orders:read", "shipments:write", "shipments:read",
                    "inventory:write", "stores:write", "orders:write"]}]
        }]});
        // The literal above always matches the format.
        serde_json::from_value(json).unwrap_or(Self { tenants: vec![] })
    }
}

pub const DEMO_TENANT: &str = "DEMO";
pub const DEMO_EMAIL: &str = "ops@demo.test";
pub const DEMO_PASSWORD: &str = "demo-password-1";
/// The demo tenant's API key (local runs only: the demo seed is never applied to a stack).
pub const DEMO_API_KEY: &str = "wlt_demo_key_for_local_runs_only_0000000";

/// What applying a seed did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub tenants: usize,
    pub users: usize,
    pub stores: usize,
    pub api_keys: usize,
}

pub async fn apply_seed(ports: &Admin<'_>, seed: Seed) -> Result<SeedReport> {
    let mut report = SeedReport::default();
    for t in seed.tenants {
        let document = t
            .document
            .as_ref()
            .map(SeedDocument::settings)
            .transpose()?;
        put_tenant(
            ports,
            TenantSpec {
                code: t.code.clone(),
                name: t.name,
                active: t.active,
                fulfilment: t.fulfilment.map(|f| (f.url, SecretString::new(f.secret))),
                document,
            },
        )
        .await?;
        report.tenants += 1;
        for u in t.users {
            put_user(ports, &t.code, &u.email, Password::parse(&u.password)?).await?;
            report.users += 1;
        }
        for s in t.stores {
            put_store(ports, &t.code, s.id, &s.name, s.customer_id).await?;
            report.stores += 1;
        }
        for k in t.api_keys {
            let scopes = Scope::parse_list(&k.scopes)?;
            put_fixed_tenant_key(ports, &t.code, &k.key, &scopes).await?;
            report.api_keys += 1;
        }
    }
    Ok(report)
}

/// Moves up to `max` messages from the dead-letter queue back to the orders queue: each is
/// sent before it is deleted, so a failure in between duplicates (harmless: the worker is
/// idempotent) rather than loses. Returns how many moved.
pub async fn redrive(
    dead_letters: &dyn crate::queue::Queue,
    queue: &dyn crate::queue::Queue,
    max: usize,
    on_batch: &mut (dyn FnMut(usize) + Send),
) -> Result<usize> {
    let mut moved = 0;
    while moved < max {
        // Long polling: a short poll samples a few servers and may answer nothing while
        // messages wait, which ended the loop early.
        let batch = dead_letters
            .receive((max - moved).min(10), std::time::Duration::from_secs(1))
            .await?;
        if batch.is_empty() {
            let (visible, _) = dead_letters.depth().await?;
            if visible == 0 {
                break;
            }
            continue;
        }
        for m in batch {
            queue.send(m.body).await?;
            dead_letters.delete(&[m.receipt]).await?;
            moved += 1;
        }
        on_batch(moved);
    }
    Ok(moved)
}

/// Looks at up to `max` dead letters without taking them: each is made visible again at once.
pub async fn peek(
    dead_letters: &dyn crate::queue::Queue,
    max: usize,
) -> Result<Vec<crate::queue::Received>> {
    let batch = dead_letters
        .receive(max.min(10), std::time::Duration::ZERO)
        .await?;
    for m in &batch {
        dead_letters
            .change_visibility(&m.receipt, std::time::Duration::ZERO)
            .await?;
    }
    Ok(batch)
}

/// Creates or updates a user with a freshly hashed password (unchanged when it already is).
async fn hash_and_put_user(
    ports: &Admin<'_>,
    tenant: &TenantCode,
    email: &Email,
    password: Password,
) -> Result<Written> {
    if let Some(existing) = ports.users.get_user(tenant, email).await? {
        let (pw, phc) = (password.clone(), existing.password_hash);
        let same = tokio::task::spawn_blocking(move || verify_password(&pw, Some(&phc)))
            .await
            .map_err(Error::internal)?;
        if same {
            return Ok(Written::Unchanged);
        }
    }
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(Error::internal)??;
    ports
        .users
        .put_user(&User {
            tenant: tenant.clone(),
            email: email.clone(),
            password_hash: hash,
        })
        .await
}

/// What a re-seal did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResealReport {
    pub tenants: usize,
    pub links: usize,
    /// Sealed values moved to the current key.
    pub resealed: usize,
    /// Sealed values already under the current key.
    pub current: usize,
    /// Links that changed while being re-sealed (run again: it skips what is done).
    pub conflicts: usize,
}

/// A sealed value under the current key: opened with whichever key sealed it and sealed
/// again, or kept when it already is. Counts into `report`.
fn reseal_value(
    secrets: &SecretBox,
    sealed: &crate::crypto::Sealed,
    what: Sealing<'_>,
    report: &mut ResealReport,
) -> Result<crate::crypto::Sealed> {
    if secrets.is_current(sealed) {
        report.current += 1;
        return Ok(sealed.clone());
    }
    let plain = secrets::open(secrets, sealed, what)?;
    report.resealed += 1;
    secrets::seal(secrets, plain.expose(), what)
}

/// Key rotation, step two: every sealed value (tenants' signing secrets; links' webhook
/// secrets and WooCommerce keys) re-sealed under the current key, so the previous key can be
/// dropped. Idempotent and resumable: values already current are left alone; a link that
/// changed meanwhile is counted in `conflicts` (the change sealed it with the current key,
/// or a second run finishes it). Reads tenants, their stores and links; never scans.
pub async fn reseal(ports: &Admin<'_>) -> Result<ResealReport> {
    let mut report = ResealReport::default();
    let s = ports.secrets;
    for mut tenant in ports.tenants.list_tenants().await? {
        report.tenants += 1;
        if let Some(f) = tenant.fulfilment.as_mut() {
            let before = report.resealed;
            f.secret = reseal_value(s, &f.secret, Sealing::Fulfilment(&tenant.code), &mut report)?;
            if report.resealed > before {
                ports.tenants.put_tenant(&tenant).await?;
            }
        }
        let stores: Vec<StoreId> = ports
            .stores
            .list_stores(&tenant.code)
            .await?
            .into_iter()
            .map(|st| st.id)
            .collect();
        for mut link in ports.links.get_links(&stores).await? {
            report.links += 1;
            let before = report.resealed;
            let id = link.store_id.clone();
            if let Some(v) = &link.webhook_secret {
                link.webhook_secret = Some(reseal_value(s, v, Sealing::Webhook(&id), &mut report)?);
            }
            if let Some(v) = &link.previous_webhook_secret {
                link.previous_webhook_secret =
                    Some(reseal_value(s, v, Sealing::Webhook(&id), &mut report)?);
            }
            if let Some(k) = link.woo_keys.as_mut() {
                k.consumer_key =
                    reseal_value(s, &k.consumer_key, Sealing::WooKey(&id), &mut report)?;
                k.consumer_secret =
                    reseal_value(s, &k.consumer_secret, Sealing::WooSecret(&id), &mut report)?;
            }
            if report.resealed == before {
                continue;
            }
            let expected = link.revision;
            link.revision += 1;
            match ports.links.save_link(&link, Some(expected)).await {
                Ok(()) => {}
                Err(e) if e.kind() == crate::error::ErrorKind::Conflict => report.conflicts += 1,
                Err(e) => return Err(e),
            }
        }
    }
    tracing::info!(
        tenants = report.tenants,
        links = report.links,
        resealed = report.resealed,
        conflicts = report.conflicts,
        "secrets re-sealed under the current key"
    );
    Ok(report)
}
