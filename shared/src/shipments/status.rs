//! Which status a shipment moves its order to: a pure rule over the order's status, its
//! shippable line items and the shipments already on the store.

use std::collections::HashMap;

use crate::model::{CompleteRule, Shipment};

/// AST's status for an order shipped in part (registered only when its setting is on).
pub const PARTIAL_SHIPPED: &str = "partial-shipped";

/// Statuses woolink never moves an order out of.
const LEFT_ALONE: [&str; 7] = [
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
    "checkout-draft",
    "draft",
];

/// What to do with the order's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusMove {
    To(&'static str),
    /// Left as it is, and why (recorded on the shipment).
    Unchanged(String),
}

/// The move for an order in status `current` whose shippable line items are `lines` (id,
/// quantity ordered), given the shipments on the store (`shipped`; one without items ships
/// the whole order) and whether the store has `partial-shipped`.
pub fn next_status(
    rule: CompleteRule,
    current: &str,
    lines: &[(u64, u32)],
    shipped: &[&Shipment],
    has_partial_shipped: bool,
) -> StatusMove {
    if rule == CompleteRule::Never {
        return StatusMove::Unchanged("complete: never".into());
    }
    if LEFT_ALONE.contains(&current) {
        return StatusMove::Unchanged(format!("the order is {current}"));
    }
    if rule == CompleteRule::Always || fully_shipped(lines, shipped) {
        return StatusMove::To("completed");
    }
    if current == PARTIAL_SHIPPED {
        return StatusMove::Unchanged(format!("the order is already {PARTIAL_SHIPPED}"));
    }
    if has_partial_shipped {
        StatusMove::To(PARTIAL_SHIPPED)
    } else {
        StatusMove::Unchanged(format!(
            "shipped in part; the store has no {PARTIAL_SHIPPED} status"
        ))
    }
}

/// Whether every shippable line item has shipped in full.
fn fully_shipped(lines: &[(u64, u32)], shipped: &[&Shipment]) -> bool {
    left_to_ship(lines, shipped).is_empty()
}

/// What of `lines` (id, quantity ordered) the shipments on the store (`shipped`) do not carry:
/// (id, quantity left), in the order's own order; nothing once one of them ships the whole
/// order (it has no items).
pub fn left_to_ship(lines: &[(u64, u32)], shipped: &[&Shipment]) -> Vec<(u64, u32)> {
    if shipped.iter().any(|s| s.items.is_empty()) {
        return Vec::new();
    }
    let mut sent: HashMap<u64, u64> = HashMap::new();
    for item in shipped.iter().flat_map(|s| &s.items) {
        if let Some(line) = item.line_item_id {
            *sent.entry(line).or_default() += u64::from(item.quantity);
        }
    }
    lines
        .iter()
        .filter_map(|&(line, qty)| {
            let left = u64::from(qty).saturating_sub(sent.get(&line).copied().unwrap_or(0));
            (left > 0).then(|| (line, u32::try_from(left).unwrap_or(qty)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ShipmentItem;

    fn shipment(items: &[(u64, u32)]) -> Shipment {
        Shipment {
            items: items
                .iter()
                .map(|(line, quantity)| ShipmentItem {
                    sku: None,
                    line_item_id: Some(*line),
                    quantity: *quantity,
                })
                .collect(),
            ..Shipment::accepted(
                crate::domain::StoreId::parse("st_1").unwrap(),
                crate::domain::OrderId::new(1),
                "s",
                "n",
                "UPS",
                chrono::Utc::now(),
            )
        }
    }

    const LINES: [(u64, u32); 2] = [(1, 2), (2, 1)];

    #[test]
    fn what_is_left_to_ship() {
        assert_eq!(left_to_ship(&LINES, &[]), LINES.to_vec());
        let first = shipment(&[(1, 1)]);
        assert_eq!(left_to_ship(&LINES, &[&first]), vec![(1, 1), (2, 1)]);
        let rest = shipment(&[(1, 1), (2, 1)]);
        assert_eq!(left_to_ship(&LINES, &[&first, &rest]), vec![]);
        // More than ordered (a line edited down since) leaves nothing, never a negative.
        let over = shipment(&[(1, 5)]);
        assert_eq!(left_to_ship(&LINES, &[&over]), vec![(2, 1)]);
        // A line the order no longer has is not "left".
        let gone = shipment(&[(9, 1)]);
        assert_eq!(left_to_ship(&LINES, &[&gone]), LINES.to_vec());
        // A whole-order shipment leaves nothing.
        let whole = shipment(&[]);
        assert_eq!(left_to_ship(&LINES, &[&whole]), vec![]);
    }

    #[test]
    fn part_then_the_rest_completes() {
        let first = shipment(&[(1, 1)]);
        let rest = shipment(&[(1, 1), (2, 1)]);
        assert_eq!(
            next_status(CompleteRule::Auto, "processing", &LINES, &[&first], true),
            StatusMove::To(PARTIAL_SHIPPED)
        );
        assert_eq!(
            next_status(CompleteRule::Auto, "processing", &LINES, &[&first], false),
            StatusMove::Unchanged(
                "shipped in part; the store has no partial-shipped status".into()
            )
        );
        assert_eq!(
            next_status(CompleteRule::Auto, PARTIAL_SHIPPED, &LINES, &[&first], true),
            StatusMove::Unchanged("the order is already partial-shipped".into())
        );
        assert_eq!(
            next_status(
                CompleteRule::Auto,
                PARTIAL_SHIPPED,
                &LINES,
                &[&first, &rest],
                true
            ),
            StatusMove::To("completed")
        );
    }

    #[test]
    fn a_shipment_without_items_ships_everything() {
        let all = shipment(&[]);
        assert_eq!(
            next_status(CompleteRule::Auto, "on-hold", &LINES, &[&all], false),
            StatusMove::To("completed")
        );
    }

    #[test]
    fn rules_and_final_statuses() {
        let first = shipment(&[(1, 1)]);
        assert_eq!(
            next_status(CompleteRule::Always, "processing", &LINES, &[&first], false),
            StatusMove::To("completed")
        );
        assert_eq!(
            next_status(
                CompleteRule::Never,
                "processing",
                &LINES,
                &[&shipment(&[])],
                true
            ),
            StatusMove::Unchanged("complete: never".into())
        );
        for status in ["cancelled", "refunded", "completed", "failed", "trash"] {
            assert_eq!(
                next_status(CompleteRule::Always, status, &LINES, &[&first], true),
                StatusMove::Unchanged(format!("the order is {status}")),
                "{status}"
            );
        }
        // An order whose only lines are not shippable (virtual) is complete at once.
        assert_eq!(
            next_status(CompleteRule::Auto, "processing", &[], &[&first], true),
            StatusMove::To("completed")
        );
    }
}
