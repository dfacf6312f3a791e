//! Money primitives: currency minor units, rounding rules and the amount ceiling.
//! It never uses floating point and never rounds without naming a strategy.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Largest amount (price, line amount, total, payment) the till accepts (`limits::MAX_AMOUNT`).
pub use crate::limits::MAX_AMOUNT;

/// Number of decimal places of a currency's minor unit, or `None` for a currency we do not know.
pub fn minor_units(currency: &str) -> Option<u32> {
    // Only currencies we have tested receipts for; guessing a minor unit would misprice sales.
    match currency {
        "EUR" | "USD" | "GBP" | "CAD" | "CHF" | "AUD" | "NZD" | "SEK" | "NOK" | "DKK" => Some(2),
        "JPY" | "KRW" => Some(0),
        "KWD" | "BHD" | "OMR" => Some(3),
        _ => None,
    }
}

/// How a value between two minor units (or two cash increments) is rounded.
///
/// Every rule is symmetric around zero, so the tax of a refund is exactly the negated tax
/// of the sale it reverses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingRule {
    /// Half away from zero: 0.125 -> 0.13, -0.125 -> -0.13 (commercial rounding).
    HalfUp,
    /// Half to even (banker's rounding): 0.125 -> 0.12, 0.135 -> 0.14.
    HalfEven,
    /// Toward zero, i.e. truncation: 9.9 -> 9, -9.9 -> -9 (the usual rule for Japan's
    /// consumption tax).
    TowardZero,
    /// Up, away from zero: any fraction of a minor unit counts, 0.141 -> 0.15, -0.141 -> -0.15.
    Up,
}

impl RoundingRule {
    /// The `rust_decimal` strategy implementing this rule.
    pub fn strategy(self) -> RoundingStrategy {
        match self {
            RoundingRule::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingRule::HalfEven => RoundingStrategy::MidpointNearestEven,
            RoundingRule::TowardZero => RoundingStrategy::ToZero,
            RoundingRule::Up => RoundingStrategy::AwayFromZero,
        }
    }
}

/// Rounds `amount` to `dp` decimal places with `rule`.
pub fn round_money(amount: Decimal, dp: u32, rule: RoundingRule) -> Decimal {
    amount.round_dp_with_strategy(dp, rule.strategy())
}

/// Number of significant decimal places of `d` once trailing zeros are dropped (1.50 -> 1).
pub fn decimals(d: Decimal) -> u32 {
    d.normalize().scale()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test literal")
    }

    #[test]
    fn max_amount_is_ten_to_the_twelfth() {
        assert_eq!(MAX_AMOUNT, d("1000000000000"));
    }

    #[test]
    fn half_up_rounds_midpoints_away_from_zero() {
        let r = RoundingRule::HalfUp;
        assert_eq!(round_money(d("0.125"), 2, r), d("0.13"));
        assert_eq!(round_money(d("0.135"), 2, r), d("0.14"));
        assert_eq!(round_money(d("-0.125"), 2, r), d("-0.13"));
        assert_eq!(round_money(d("2.5"), 0, r), d("3"));
        assert_eq!(round_money(d("0.0005"), 3, r), d("0.001"));
    }

    #[test]
    fn half_even_rounds_midpoints_to_the_even_neighbour() {
        let r = RoundingRule::HalfEven;
        assert_eq!(round_money(d("0.125"), 2, r), d("0.12"));
        assert_eq!(round_money(d("0.135"), 2, r), d("0.14"));
        assert_eq!(round_money(d("-0.125"), 2, r), d("-0.12"));
        assert_eq!(round_money(d("2.5"), 0, r), d("2"));
        assert_eq!(round_money(d("3.5"), 0, r), d("4"));
    }

    #[test]
    fn both_rules_agree_away_from_midpoints() {
        for rule in [RoundingRule::HalfUp, RoundingRule::HalfEven] {
            assert_eq!(round_money(d("0.1249999"), 2, rule), d("0.12"));
            assert_eq!(round_money(d("0.1250001"), 2, rule), d("0.13"));
            assert_eq!(round_money(d("1.994"), 2, rule), d("1.99"));
            assert_eq!(round_money(d("1.996"), 2, rule), d("2.00"));
            // Already at the precision: untouched.
            assert_eq!(round_money(d("7.10"), 2, rule), d("7.10"));
        }
    }

    #[test]
    fn toward_zero_truncates_every_fraction_on_both_sides_of_zero() {
        let r = RoundingRule::TowardZero;
        assert_eq!(round_money(d("9.9"), 0, r), d("9"));
        assert_eq!(round_money(d("-9.9"), 0, r), d("-9"));
        assert_eq!(round_money(d("0.129"), 2, r), d("0.12"));
        assert_eq!(round_money(d("0.125"), 2, r), d("0.12"));
        assert_eq!(round_money(d("7.10"), 2, r), d("7.10"));
    }

    #[test]
    fn up_rounds_every_fraction_away_from_zero() {
        let r = RoundingRule::Up;
        assert_eq!(round_money(d("0.141"), 2, r), d("0.15"));
        assert_eq!(round_money(d("0.1400001"), 2, r), d("0.15"));
        assert_eq!(round_money(d("-0.141"), 2, r), d("-0.15"));
        assert_eq!(round_money(d("9.1"), 0, r), d("10"));
        // Already at the precision: untouched.
        assert_eq!(round_money(d("7.10"), 2, r), d("7.10"));
    }

    #[test]
    fn every_rule_is_symmetric_around_zero() {
        for rule in [
            RoundingRule::HalfUp,
            RoundingRule::HalfEven,
            RoundingRule::TowardZero,
            RoundingRule::Up,
        ] {
            for v in ["0.125", "0.135", "0.1249", "9.9", "2.5", "0.001"] {
                let v = d(v);
                assert_eq!(
                    round_money(-v, 2, rule),
                    -round_money(v, 2, rule),
                    "{rule:?} {v}"
                );
            }
        }
    }

    #[test]
    fn rounding_rules_serialise_in_snake_case() {
        let json = serde_json::to_string(&[
            RoundingRule::HalfUp,
            RoundingRule::HalfEven,
            RoundingRule::TowardZero,
            RoundingRule::Up,
        ])
        .expect("serialise");
        assert_eq!(json, r#"["half_up","half_even","toward_zero","up"]"#);
    }

    #[test]
    fn minor_units_of_known_and_unknown_currencies() {
        assert_eq!(minor_units("EUR"), Some(2));
        assert_eq!(minor_units("JPY"), Some(0));
        assert_eq!(minor_units("KWD"), Some(3));
        assert_eq!(minor_units("eur"), None);
        assert_eq!(minor_units("XXX"), None);
    }

    #[test]
    fn decimals_ignores_trailing_zeros() {
        assert_eq!(decimals(d("1.50")), 1);
        assert_eq!(decimals(d("1.00")), 0);
        assert_eq!(decimals(d("0.375")), 3);
        assert_eq!(decimals(d("120")), 0);
    }
}
