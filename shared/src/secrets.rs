//! Every secret woolink must read back is sealed (AES-256-GCM, `crate::crypto::SecretBox`) with
//! a context that binds it to the item and field it belongs to, so a sealed value copied to
//! another item or field does not open. This module is the one place those contexts are
//! spelled, and where the use cases open what they need.

use crate::crypto::{Sealed, SecretBox, SecretString};
use crate::domain::{StoreId, TenantCode};
use crate::error::Result;
use crate::model::Link;
use crate::woocommerce::WooCredentials;

/// Which secret a sealed value is.
#[derive(Clone, Copy, Debug)]
pub enum Sealing<'a> {
    /// A link's webhook secret (current or previous).
    Webhook(&'a StoreId),
    /// The WooCommerce consumer key a link holds.
    WooKey(&'a StoreId),
    /// The WooCommerce consumer secret a link holds.
    WooSecret(&'a StoreId),
    /// A tenant's Standard Webhooks signing secret.
    Fulfilment(&'a TenantCode),
}

impl Sealing<'_> {
    /// The context string (stored values depend on it: never change a spelling).
    pub fn context(self) -> String {
        match self {
            Self::Webhook(store) => format!("link/{store}/webhook"),
            Self::WooKey(store) => format!("link/{store}/woo_key"),
            Self::WooSecret(store) => format!("link/{store}/woo_secret"),
            Self::Fulfilment(code) => format!("tenant/{code}/fulfilment"),
        }
    }
}

pub fn seal(secrets: &SecretBox, value: &str, what: Sealing<'_>) -> Result<Sealed> {
    secrets.seal(value, &what.context())
}

pub fn open(secrets: &SecretBox, sealed: &Sealed, what: Sealing<'_>) -> Result<SecretString> {
    secrets.open(sealed, &what.context())
}

/// The WooCommerce keys a link holds, opened (`None` when it holds none).
pub fn open_woo_keys(secrets: &SecretBox, link: &Link) -> Result<Option<WooCredentials>> {
    let Some(keys) = &link.woo_keys else {
        return Ok(None);
    };
    Ok(Some(WooCredentials {
        consumer_key: open(secrets, &keys.consumer_key, Sealing::WooKey(&link.store_id))?,
        consumer_secret: open(
            secrets,
            &keys.consumer_secret,
            Sealing::WooSecret(&link.store_id),
        )?,
    }))
}

/// A store's connected link and its WooCommerce keys in clear: what every use case that
/// calls the store on its own (backfill, poll, shipments) starts from. Not linked is
/// `StoreNotFound`; linked without keys `InvalidRequest`.
pub async fn keyed_link(
    links: &dyn crate::ports::Links,
    secrets: &SecretBox,
    store: &crate::domain::StoreId,
) -> Result<(Link, WooCredentials)> {
    let link = links
        .get_link(store)
        .await?
        .filter(Link::is_connected)
        .ok_or_else(|| {
            crate::error::Error::new(
                crate::error::ErrorKind::StoreNotFound,
                "this store is not linked",
            )
        })?;
    let creds = open_woo_keys(secrets, &link)?.ok_or_else(|| {
        crate::error::Error::invalid_request("this needs the store's WooCommerce keys on the link")
    })?;
    Ok((link, creds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_keep_their_stored_spelling_and_bind_the_field() {
        let s = StoreId::parse("st_1").unwrap();
        let t = TenantCode::parse("ACME").unwrap();
        assert_eq!(Sealing::Webhook(&s).context(), "link/st_1/webhook");
        assert_eq!(Sealing::WooKey(&s).context(), "link/st_1/woo_key");
        assert_eq!(Sealing::WooSecret(&s).context(), "link/st_1/woo_secret");
        assert_eq!(Sealing::Fulfilment(&t).context(), "tenant/ACME/fulfilment");
        let b = SecretBox::from_base64(&SecretBox::generate_key_base64()).unwrap();
        let sealed = seal(&b, "ck_x", Sealing::WooKey(&s)).unwrap();
        assert_eq!(
            open(&b, &sealed, Sealing::WooKey(&s)).unwrap().expose(),
            "ck_x"
        );
        assert!(open(&b, &sealed, Sealing::WooSecret(&s)).is_err());
    }
}
