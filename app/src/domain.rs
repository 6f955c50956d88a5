//! Domain values shared by the server and the browser. Each newtype parses once, at the edge,
//! so the rest of the code can rely on it being valid.

use std::{fmt, str::FromStr};

use strum::{EnumCount, VariantArray};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Why a domain value was refused; the message is meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn invalid(msg: impl Into<String>) -> ParseError {
    ParseError(msg.into())
}

/// strum's `VARIANTS` as an array, for the `ALL` constants callers iterate by value.
pub(crate) const fn all<T: Copy, const N: usize>(variants: &[T]) -> [T; N] {
    match variants.first_chunk() {
        Some(array) if variants.len() == N => *array,
        _ => panic!("VARIANTS has COUNT entries"),
    }
}

/// The settlement currencies DelTran supports (`deltran.currency_code`); the string form is
/// the ISO 4217 code, the variant's name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::VariantArray,
    strum::EnumCount,
)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(feature = "ssr", sqlx(type_name = "deltran.currency_code"))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Currency {
    USD,
    EUR,
    GBP,
    JPY,
    CHF,
    CAD,
    AUD,
    CNY,
    INR,
    BRL,
}

impl Currency {
    /// Every currency, in declaration order.
    pub const ALL: [Currency; Currency::COUNT] = all(Currency::VARIANTS);

    /// The ISO 4217 code.
    pub fn code(self) -> &'static str {
        self.into()
    }

    /// Digits after the decimal point in ISO 4217 (JPY has none).
    pub fn minor_units(self) -> u32 {
        match self {
            Currency::JPY => 0,
            _ => 2,
        }
    }
}

impl FromStr for Currency {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        Currency::ALL
            .into_iter()
            .find(|c| c.code() == upper)
            .ok_or_else(|| invalid(format!("unsupported currency {s:?}")))
    }
}

/// A BIC (ISO 9362): 4 letters of institution, 2 of country, 2 letters or digits of location,
/// and an optional 3-character branch. Stored upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bic(String);

impl Bic {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ISO 3166 alpha-2 country the BIC belongs to.
    pub fn country(&self) -> &str {
        &self.0[4..6]
    }
}

impl FromStr for Bic {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bic = s.trim().to_ascii_uppercase();
        let b = bic.as_bytes();
        if b.len() != 8 && b.len() != 11 {
            return Err(invalid("a BIC has 8 or 11 characters"));
        }
        let letters = b[..6].iter().all(u8::is_ascii_uppercase);
        let alnum = b[6..].iter().all(u8::is_ascii_alphanumeric);
        if !letters || !alnum {
            return Err(invalid(
                "a BIC is 6 letters followed by 2 or 5 letters or digits",
            ));
        }
        Ok(Bic(bic))
    }
}

impl TryFrom<String> for Bic {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Bic> for String {
    fn from(b: Bic) -> String {
        b.0
    }
}

impl fmt::Display for Bic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A positive amount of money in a currency, with no more decimals than the currency has and
/// within what `numeric(20,2)` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    value: Decimal,
    currency: Currency,
}

impl Amount {
    /// The largest amount `numeric(20,2)` can store.
    pub fn max_value() -> Decimal {
        Decimal::from_i128_with_scale(99_999_999_999_999_999_999, 2)
    }

    pub fn new(value: Decimal, currency: Currency) -> Result<Self, ParseError> {
        if value <= Decimal::ZERO {
            return Err(invalid("the amount must be greater than zero"));
        }
        if value.normalize().scale() > currency.minor_units() {
            return Err(invalid(format!(
                "{currency} amounts have at most {} decimal places",
                currency.minor_units()
            )));
        }
        if value > Self::max_value() {
            return Err(invalid("the amount is too large"));
        }
        Ok(Amount { value, currency })
    }

    pub fn parse(text: &str, currency: Currency) -> Result<Self, ParseError> {
        let cleaned: String = text
            .trim()
            .chars()
            .filter(|c| *c != ',' && *c != '_')
            .collect();
        let value = Decimal::from_str(&cleaned)
            .map_err(|_| invalid(format!("{text:?} is not a number")))?;
        Amount::new(value, currency)
    }

    pub fn value(&self) -> Decimal {
        self.value
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            format_money(self.value, self.currency),
            self.currency
        )
    }
}

/// Formats an amount with thousands separators and the currency's decimals: `1,234,567.50`.
pub fn format_money(value: Decimal, currency: Currency) -> String {
    let rounded = value.round_dp(currency.minor_units());
    let text = format!("{:.*}", currency.minor_units() as usize, rounded.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let grouped = thousands(int);
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// Digits with a comma between each group of three: `1234567` → `1,234,567`.
pub fn thousands(digits: &str) -> String {
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    grouped
}

/// Where a payment is in its life (`deltran.payment_status`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::VariantArray,
    strum::EnumCount,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "deltran.payment_status", rename_all = "snake_case")
)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum PaymentStatus {
    Pending,
    Processing,
    Settled,
    Failed,
    Cancelled,
}

impl PaymentStatus {
    /// Every status, in the order of a payment's life.
    pub const ALL: [PaymentStatus; PaymentStatus::COUNT] = all(PaymentStatus::VARIANTS);

    /// The database's and the URL's name: `pending`, `processing`, …
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl FromStr for PaymentStatus {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PaymentStatus::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim())
            .ok_or_else(|| invalid(format!("unknown payment status {s:?}")))
    }
}

/// What a compliance check concluded (`deltran.compliance_status`); `review` waits for a
/// person.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::VariantArray,
    strum::EnumCount,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "deltran.compliance_status", rename_all = "snake_case")
)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ComplianceStatus {
    Pending,
    Pass,
    Fail,
    Review,
}

impl ComplianceStatus {
    pub const ALL: [ComplianceStatus; ComplianceStatus::COUNT] = all(ComplianceStatus::VARIANTS);

    /// The database's and the URL's name: `pending`, `pass`, `fail`, `review`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where a settlement batch is in its life (`deltran.settlement_status`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::VariantArray,
    strum::EnumCount,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "deltran.settlement_status", rename_all = "snake_case")
)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum SettlementStatus {
    Draft,
    Ready,
    Submitted,
    Settled,
    Failed,
    Cancelled,
}

impl SettlementStatus {
    pub const ALL: [SettlementStatus; SettlementStatus::COUNT] = all(SettlementStatus::VARIANTS);

    /// The database's and the URL's name: `draft`, `ready`, …
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A console user's role (`deltran.user_role`); what each may do is in `auth::permissions`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::VariantArray,
    strum::EnumCount,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "deltran.user_role", rename_all = "snake_case")
)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Role {
    Admin,
    Operator,
    Auditor,
    Viewer,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; Role::COUNT] = all(Role::VARIANTS);

    /// The database's and the URL's name: `admin`, `operator`, `auditor`, `viewer`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl FromStr for Role {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                invalid(format!(
                    "unknown role {s:?} (admin, operator, auditor or viewer)"
                ))
            })
    }
}

/// A username: 3 to 64 characters of lower-case letters, digits, `.`, `_` or `-`.
pub fn parse_username(s: &str) -> Result<String, ParseError> {
    let u = s.trim().to_ascii_lowercase();
    let ok_chars = u
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !(3..=64).contains(&u.len()) || !ok_chars {
        return Err(invalid(
            "a username has 3 to 64 characters: letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(u)
}

/// An e-mail address of the shape the database's `users_email_format` takes: `local@domain.tld`,
/// the local part of letters, digits and `._%+-`, the domain's labels of letters, digits and
/// `-`, a top-level domain of 2 to 63 letters, at most 254 characters in all.
pub fn parse_email(s: &str) -> Result<String, ParseError> {
    let e = s.trim();
    let local_ok = |l: &str| {
        !l.is_empty()
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-'))
    };
    let domain_ok = |d: &str| {
        let labels: Vec<&str> = d.split('.').collect();
        let tld = labels.last().copied().unwrap_or_default();
        labels.len() >= 2
            && labels
                .iter()
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            && (2..=63).contains(&tld.len())
            && tld.chars().all(|c| c.is_ascii_alphabetic())
    };
    let valid = match e.split_once('@') {
        Some((local, domain)) => local_ok(local) && domain_ok(domain),
        None => false,
    };
    if !valid || e.len() > 254 {
        return Err(invalid(format!("{e:?} is not an e-mail address")));
    }
    Ok(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bic_accepts_8_and_11_characters_and_upper_cases() {
        assert_eq!("deutdeff".parse::<Bic>().unwrap().as_str(), "DEUTDEFF");
        let b: Bic = "DEUTDEFF500".parse().unwrap();
        assert_eq!(b.country(), "DE");
    }

    #[test]
    fn bic_refuses_wrong_length_and_characters() {
        for bad in [
            "DEUTDE",
            "DEUTDEFF5",
            "DEU1DEFF",
            "DEUTD3FF",
            "DEUTDEFF50!",
            "",
        ] {
            assert!(bad.parse::<Bic>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn bic_deserialises_only_when_valid() {
        assert!(serde_json::from_str::<Bic>("\"BNPAFRPP\"").is_ok());
        assert!(serde_json::from_str::<Bic>("\"nope\"").is_err());
    }

    #[test]
    fn currency_parses_case_insensitively_and_knows_minor_units() {
        assert_eq!("eur".parse::<Currency>().unwrap(), Currency::EUR);
        assert!("XXX".parse::<Currency>().is_err());
        assert_eq!(Currency::JPY.minor_units(), 0);
        assert_eq!(Currency::USD.minor_units(), 2);
        assert_eq!(Currency::ALL.len(), 10);
    }

    #[test]
    fn amounts_must_be_positive_and_fit_the_currency() {
        assert!(Amount::parse("0", Currency::USD).is_err());
        assert!(Amount::parse("-5", Currency::USD).is_err());
        assert!(Amount::parse("1.005", Currency::USD).is_err());
        assert!(Amount::parse("100.5", Currency::JPY).is_err());
        assert!(Amount::parse("100.50", Currency::USD).is_ok());
        assert!(
            Amount::parse("100.00", Currency::JPY).is_ok(),
            "trailing zeros are fine"
        );
        assert!(Amount::parse("1,000,000.25", Currency::EUR).is_ok());
        assert!(Amount::parse("abc", Currency::EUR).is_err());
        assert!(Amount::parse("1000000000000000000", Currency::EUR).is_err());
    }

    #[test]
    fn money_is_formatted_with_separators() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(format_money(d("1234567.5"), Currency::USD), "1,234,567.50");
        assert_eq!(format_money(d("999"), Currency::JPY), "999");
        assert_eq!(format_money(d("-1000"), Currency::EUR), "-1,000.00");
        assert_eq!(format_money(d("0.004"), Currency::EUR), "0.00");
        let a = Amount::parse("12.3", Currency::GBP).unwrap();
        assert_eq!(a.to_string(), "12.30 GBP");
    }

    #[test]
    fn usernames_and_emails_are_checked() {
        assert_eq!(parse_username(" Alice.B ").unwrap(), "alice.b");
        assert!(parse_username("ab").is_err());
        assert!(parse_username("bad name").is_err());
        assert!(parse_email("ops@bank.example").is_ok());
        assert!(parse_email("first.last+ops@pay-ments.bank.example").is_ok());
        // What the database's users_email_format refuses (a fuzzer found the first as a 500).
        for bad in [
            "e{k@2u.1yr2kv7l.test",
            "a@b.c0m",
            "a@b..com",
            "a@b.c",
            "nope",
            "@x.com",
            "a@b",
            "a b@c.de",
            "a@.com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_and_roles_round_trip() {
        for s in PaymentStatus::ALL {
            assert_eq!(s.as_str().parse::<PaymentStatus>().unwrap(), s);
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn string_forms_are_the_database_names() {
        assert_eq!(
            Role::ALL.map(Role::as_str),
            ["admin", "operator", "auditor", "viewer"]
        );
        assert_eq!(
            PaymentStatus::ALL.map(PaymentStatus::as_str),
            ["pending", "processing", "settled", "failed", "cancelled"]
        );
        assert_eq!(Currency::ALL[0].code(), "USD");
        assert_eq!(Currency::BRL.to_string(), "BRL");
        assert_eq!(Role::Auditor.to_string(), "auditor");
        assert_eq!(PaymentStatus::Cancelled.to_string(), "cancelled");
        assert_eq!(" Admin ".parse::<Role>(), Ok(Role::Admin));
        assert_eq!(
            "root".parse::<Role>().unwrap_err().to_string(),
            "unknown role \"root\" (admin, operator, auditor or viewer)"
        );
        assert_eq!(
            "xxx".parse::<Currency>().unwrap_err().to_string(),
            "unsupported currency \"xxx\""
        );
        assert_eq!(
            "Pending".parse::<PaymentStatus>().unwrap_err().to_string(),
            "unknown payment status \"Pending\""
        );
    }
}
