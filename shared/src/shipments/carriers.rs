//! A tenant's carrier name (`"ups"`, `"DHL"`, `"Royal Mail"`, `"Acme Parcel"`) as each
//! tracking API knows it: a provider the store lists (AST and Shipment Tracking list theirs),
//! a slug (core fulfillments), or a custom provider with the tenant's tracking link.

use crate::woocommerce::TrackingApi;

/// Common carriers: woolink's key (lowercase letters and digits), the slug WooCommerce core's
/// Order Fulfillments knows it by (its shipping providers' keys, as of 10.5: the customer
/// email and the orders list show `_shipment_provider`, and core builds the tracking link for
/// these), and the names the plugins list them under, preferred first.
const KNOWN: &[(&str, &str, &[&str])] = &[
    ("ups", "ups", &["UPS"]),
    ("usps", "usps", &["USPS"]),
    ("fedex", "fedex", &["FedEx", "Fedex"]),
    (
        "dhl",
        "dhl",
        &["DHL Express", "DHL", "DHL US", "DHL eCommerce"],
    ),
    ("dhlexpress", "dhl", &["DHL Express", "DHL"]),
    ("royalmail", "royal-mail", &["Royal Mail"]),
    (
        "parcelforce",
        "parcelforce",
        &["Parcelforce", "ParcelForce"],
    ),
    ("australiapost", "australia-post", &["Australia Post"]),
    ("auspost", "australia-post", &["Australia Post"]),
    ("canadapost", "canada-post", &["Canada Post"]),
    ("dpd", "dpd", &["DPD", "DPD UK", "DPD.de"]),
    ("gls", "gls", &["GLS"]),
    ("postnl", "postnl", &["PostNL"]),
    ("postnord", "postnord", &["PostNord"]),
    ("colissimo", "la-poste-colissimo", &["Colissimo"]),
    ("chronopost", "chronopost", &["Chronopost"]),
    ("evri", "evri-hermes", &["Evri", "Hermes"]),
    ("hermes", "evri-hermes", &["Hermes", "Evri"]),
    ("purolator", "purolator", &["Purolator"]),
    ("inpost", "inpost", &["InPost"]),
    ("pocztapolska", "poczta-polska", &["Poczta Polska"]),
    ("correos", "correos", &["Correos"]),
    ("seur", "seur", &["SEUR", "Seur"]),
    ("deutschepost", "deutsche-post", &["Deutsche Post"]),
    ("bpost", "bpost", &["bpost", "Bpost"]),
    ("anpost", "an-post", &["An Post"]),
    ("posteitaliane", "poste-italiane", &["Poste Italiane"]),
    ("swisspost", "swiss-post", &["Swiss Post"]),
    ("novaposhta", "nova-poshta", &["Nova Poshta"]),
    ("zasilkovna", "zasilkovna", &["Zasilkovna", "Packeta"]),
    ("packeta", "zasilkovna", &["Packeta", "Zasilkovna"]),
    ("amazonlogistics", "amazon-logistics", &["Amazon Logistics"]),
    ("newzealandpost", "new-zealand-post", &["New Zealand Post"]),
    ("startrack", "startrack", &["StarTrack"]),
    // Not one of core's providers: a custom one there.
    ("tnt", "", &["TNT Express", "TNT"]),
];

/// How a carrier goes to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// The name (or slug) to send.
    pub name: String,
    /// Not one the store knows: sent as a custom provider, with the tenant's tracking link.
    pub custom: bool,
}

impl Provider {
    fn known(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            custom: false,
        }
    }

    fn custom(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            custom: true,
        }
    }
}

fn key(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `carrier` as `api` takes it, given the providers the store lists (`known`, by name).
pub fn provider_for(carrier: &str, api: TrackingApi, known: &[String]) -> Provider {
    let wanted = key(carrier);
    let entry = KNOWN.iter().find(|(k, _, _)| *k == wanted);
    match api {
        TrackingApi::Fulfillments => match entry.filter(|(_, slug, _)| !slug.is_empty()) {
            Some((_, slug, _)) => Provider::known(slug),
            None => Provider::custom(carrier),
        },
        TrackingApi::Ast | TrackingApi::ShipmentTracking => {
            let listed = |candidate: &str| known.iter().find(|n| key(n) == key(candidate));
            let found = listed(carrier).or_else(|| {
                entry
                    .into_iter()
                    .flat_map(|(_, _, names)| names.iter())
                    .find_map(|n| listed(n))
            });
            found.map_or_else(|| Provider::custom(carrier), |name| Provider::known(name))
        }
        TrackingApi::OrderNote => Provider::known(carrier),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> Vec<String> {
        // The real test store's AST carriers.
        ["USPS", "UPS", "FedEx", "DHL Express"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn known_carriers_take_the_stores_own_names() {
        for (carrier, name) in [
            ("ups", "UPS"),
            ("U.P.S.", "UPS"),
            ("fedex", "FedEx"),
            ("FEDEX", "FedEx"),
            ("dhl", "DHL Express"),
            ("DHL Express", "DHL Express"),
        ] {
            assert_eq!(
                provider_for(carrier, TrackingApi::Ast, &listed()),
                Provider {
                    name: name.into(),
                    custom: false
                },
                "{carrier}"
            );
        }
    }

    #[test]
    fn others_are_custom_providers() {
        for carrier in ["Acme Parcel", "Royal Mail"] {
            assert_eq!(
                provider_for(carrier, TrackingApi::ShipmentTracking, &listed()),
                Provider {
                    name: carrier.into(),
                    custom: true
                }
            );
        }
    }

    #[test]
    fn fulfillments_take_slugs() {
        // Core's own slugs (its providers' keys in 10.5), which its email and orders list show.
        for (carrier, slug) in [
            ("Royal Mail", "royal-mail"),
            ("UPS", "ups"),
            ("Evri", "evri-hermes"),
            ("Colissimo", "la-poste-colissimo"),
            ("InPost", "inpost"),
        ] {
            assert_eq!(
                provider_for(carrier, TrackingApi::Fulfillments, &[]),
                Provider {
                    name: slug.into(),
                    custom: false
                },
                "{carrier}"
            );
        }
        assert!(provider_for("TNT", TrackingApi::Fulfillments, &[]).custom);
        assert_eq!(
            provider_for("Acme Parcel", TrackingApi::Fulfillments, &[]),
            Provider {
                name: "Acme Parcel".into(),
                custom: true
            }
        );
        assert_eq!(
            provider_for("Acme Parcel", TrackingApi::OrderNote, &[]).name,
            "Acme Parcel"
        );
    }
}
