//! Currencies and rounding. Money is `rust_decimal::Decimal`, never a float.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// An ISO 4217 currency with its number of minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Currency {
    /// Three-letter code.
    pub code: &'static str,
    /// Digits after the decimal point of the smallest coin (USD 2, JPY 0, KWD 3).
    pub minor_units: u32,
}

/// The currencies Tollgate knows, with their ISO 4217 minor units.
const CURRENCIES: [(&str, u32); 24] = [
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("CHF", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("NZD", 2),
    ("SEK", 2),
    ("NOK", 2),
    ("DKK", 2),
    ("PLN", 2),
    ("CZK", 2),
    ("INR", 2),
    ("CNY", 2),
    ("BRL", 2),
    ("MXN", 2),
    ("SGD", 2),
    ("HKD", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("CLP", 0),
    ("ISK", 0),
    ("KWD", 3),
    ("BHD", 3),
];

impl Currency {
    /// Looks a currency up by its code (case-insensitive).
    pub fn from_code(code: &str) -> Option<Currency> {
        CURRENCIES
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
            .map(|(c, m)| Currency {
                code: c,
                minor_units: *m,
            })
    }
}

impl Currency {
    /// `amount` written with exactly the currency's minor units (`41.5`
    /// USD → `41.50`); an amount with more decimals is not rounded here
    /// (round with [`Rounding::apply`] first), it keeps its digits.
    pub fn scaled(self, amount: Decimal) -> Decimal {
        let mut a = amount;
        if a.scale() < self.minor_units {
            a.rescale(self.minor_units);
        }
        a
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// How amounts are rounded to the currency's minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// 0.005 → 0.01, -0.005 → -0.01 (commercial rounding; the default).
    #[default]
    HalfAwayFromZero,
    /// 0.005 → 0.00, 0.015 → 0.02 (banker's rounding).
    HalfEven,
    /// Toward zero.
    Down,
    /// Away from zero.
    Up,
}

impl Rounding {
    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::HalfAwayFromZero => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::Down => RoundingStrategy::ToZero,
            Rounding::Up => RoundingStrategy::AwayFromZero,
        }
    }

    /// Rounds `amount` to `currency`'s minor units, and writes it with
    /// exactly that many decimals (`41.50`, not `41.5`; `0.00`, not `0`).
    pub fn apply(self, amount: Decimal, currency: Currency) -> Decimal {
        currency.scaled(amount.round_dp_with_strategy(currency.minor_units, self.strategy()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn half_cent_ties_round_as_configured() {
        let usd = Currency::from_code("usd").unwrap();
        assert_eq!(Rounding::HalfAwayFromZero.apply(d("0.125"), usd), d("0.13"));
        assert_eq!(
            Rounding::HalfAwayFromZero.apply(d("-0.125"), usd),
            d("-0.13")
        );
        assert_eq!(Rounding::HalfEven.apply(d("0.125"), usd), d("0.12"));
        assert_eq!(Rounding::Down.apply(d("0.129"), usd), d("0.12"));
        assert_eq!(Rounding::Up.apply(d("0.121"), usd), d("0.13"));
        let jpy = Currency::from_code("JPY").unwrap();
        assert_eq!(Rounding::HalfAwayFromZero.apply(d("2.5"), jpy), d("3"));
        let kwd = Currency::from_code("KWD").unwrap();
        assert_eq!(
            Rounding::HalfAwayFromZero.apply(d("1.0005"), kwd),
            d("1.001")
        );
        assert!(Currency::from_code("XXX").is_none());
        // Amounts print at the currency's precision.
        assert_eq!(
            Rounding::HalfAwayFromZero.apply(d("41.5"), usd).to_string(),
            "41.50"
        );
        assert_eq!(
            Rounding::HalfAwayFromZero.apply(d("0"), usd).to_string(),
            "0.00"
        );
        assert_eq!(
            Rounding::HalfAwayFromZero.apply(d("2.5"), jpy).to_string(),
            "3"
        );
        assert_eq!(
            Rounding::HalfAwayFromZero.apply(d("7"), kwd).to_string(),
            "7.000"
        );
    }
}
