//! Quantities: usage, tier bounds, allowances and package sizes, as exact
//! decimals.
//!
//! A quantity may be fractional (GB transferred, compute seconds, a sum of
//! amounts) but most are whole counts. Both read and write the way whole
//! counts always have: a whole quantity is a plain number in TOML and JSON
//! (`up_to = 1000000`, `"quantity": 42`), so plan files and stored
//! invoices from before decimals keep their exact form. A fractional one
//! is a quoted string (`up_to = "0.5"`), for the same reason prices are: a
//! TOML or JSON float is already a binary approximation, so one is refused.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// True when `q` has no fractional part.
pub fn is_whole(q: Decimal) -> bool {
    q.fract().is_zero()
}

/// Serializes a quantity: a whole, non-negative one as a number, any other
/// as a string.
pub fn serialize<S: Serializer>(q: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    match (is_whole(*q), q.to_u64()) {
        (true, Some(n)) => s.serialize_u64(n),
        _ => s.collect_str(&q.normalize()),
    }
}

/// Reads a quantity from a whole number or a quoted decimal.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(QuantityVisitor)
}

struct QuantityVisitor;

impl Visitor<'_> for QuantityVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number (1000) or a decimal in quotes (\"0.5\")")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        Err(E::custom(format!(
            "{v} is a float; write a fractional quantity in quotes (\"{v}\") so it is exact"
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        Decimal::from_str(v.trim())
            .map_err(|_| E::custom(format!("{v:?} is not a decimal quantity")))
    }
}

/// [`serialize`] and [`deserialize`] for `Option<Decimal>` (absent or null
/// is `None`).
pub mod option {
    use super::*;

    /// Serializes `Some` as [`super::serialize`] does, `None` as null.
    pub fn serialize<S: Serializer>(q: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match q {
            Some(q) => super::serialize(q, s),
            None => s.serialize_none(),
        }
    }

    /// Reads an optional quantity.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        d.deserialize_option(OptionVisitor)
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<Decimal>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a quantity or nothing")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Q {
        #[serde(with = "super")]
        q: Decimal,
        #[serde(default, with = "super::option")]
        up_to: Option<Decimal>,
    }

    #[test]
    fn whole_quantities_stay_numbers_and_fractions_are_quoted() {
        let whole = Q {
            q: Decimal::from(42),
            up_to: None,
        };
        assert_eq!(
            serde_json::to_string(&whole).unwrap(),
            r#"{"q":42,"up_to":null}"#
        );
        let frac = Q {
            q: Decimal::new(25, 1),
            up_to: Some(Decimal::new(5, 1)),
        };
        let json = serde_json::to_string(&frac).unwrap();
        assert_eq!(json, r#"{"q":"2.5","up_to":"0.5"}"#);
        assert_eq!(serde_json::from_str::<Q>(&json).unwrap(), frac);
        assert_eq!(
            serde_json::from_str::<Q>(r#"{"q":42,"up_to":null}"#).unwrap(),
            whole
        );
        assert_eq!(toml::from_str::<Q>("q = 42").unwrap(), whole);
        assert_eq!(
            toml::from_str::<Q>("q = \"2.5\"\nup_to = \"0.5\"").unwrap(),
            frac
        );
        let e = toml::from_str::<Q>("q = 2.5").unwrap_err().to_string();
        assert!(e.contains("in quotes"), "{e}");
    }
}
