//! The forms a value of `dockwright.toml` takes: sizes, durations, ages, counts, CPUs,
//! ports and names. Each is read from any TOML value and then converted, so that every
//! wrong value, whatever its type, gets the same "expected ..., found <the value as
//! written>".

use std::ops::RangeInclusive;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A leaf read as any TOML value and then converted, so that every wrong value,
/// whatever its type, gets the same "expected ..., found <the value as written>".
pub fn leaf<'de, D, T>(
    d: D,
    expected: &str,
    convert: impl FnOnce(&toml::Value) -> Option<T>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let value = toml::Value::deserialize(d)?;
    convert(&value)
        .ok_or_else(|| serde::de::Error::custom(format!("expected {expected}, found {value}")))
}

/// A size in bytes, above zero: the engine reads a zero memory limit as none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(
            d,
            "a size such as \"512m\" or \"2g\" (or a number of bytes above 0)",
            |v| match v {
                toml::Value::Integer(n) => u64::try_from(*n).ok().filter(|n| *n > 0),
                toml::Value::String(s) => parse_size(s),
                _ => None,
            },
        )
        .map(Size)
    }
}

/// `512k`, `256m`, `2g`, `1t`, with an optional `b` or `ib` (`256MiB`), any case;
/// binary units. Above zero, and no more than the engine's signed 64-bit field holds.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return None,
    };
    // `ib` alone (`512ib`) is not a unit.
    if shift == 0 && text[digits..].trim() == "ib" {
        return None;
    }
    number
        .checked_mul(1 << shift)
        .filter(|n| *n > 0 && *n <= i64::MAX as u64)
}

/// A duration above zero, written with its unit: `500ms`, `30s`, `5m`, `1h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "a duration such as \"30s\", \"5m\" or \"1h\"", |v| {
            v.as_str().and_then(parse_duration)
        })
        .map(Dur)
    }
}

pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.checked_mul(60)?),
        "h" => Duration::from_secs(number.checked_mul(3600)?),
        _ => return None,
    };
    (!duration.is_zero()).then_some(duration)
}

/// A span that may run to days: `8h`, `7d`, `2w` (and the shorter units of
/// [`parse_duration`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Age(pub Duration);

impl<'de> Deserialize<'de> for Age {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "a duration such as \"30m\", \"8h\" or \"7d\"", |v| {
            v.as_str().and_then(parse_age)
        })
        .map(Age)
    }
}

/// An age of history: `90d`, `4w`, `12h` (and the shorter units of [`parse_duration`]).
pub fn parse_age(text: &str) -> Option<Duration> {
    let text = text.trim();
    let day = |n: &str, days: u64| {
        let n: u64 = n.trim().parse().ok()?;
        let secs = n.checked_mul(days)?.checked_mul(86_400)?;
        (secs > 0).then(|| Duration::from_secs(secs))
    };
    if let Some(n) = text.strip_suffix('d') {
        return day(n, 1);
    }
    if let Some(n) = text.strip_suffix('w') {
        return day(n, 7);
    }
    parse_duration(text)
}

/// A number of CPUs above 0 (0 would mean no limit), at most what the engine takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cpus(pub f64);

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "a number of CPUs above 0, such as 0.5 or 2", |v| {
            let cpus = match v {
                toml::Value::Integer(n) => *n as f64,
                toml::Value::Float(f) => *f,
                _ => return None,
            };
            (cpus > 0.0 && cpus <= 1024.0).then_some(cpus)
        })
        .map(Cpus)
    }
}

/// A count above zero: of containers, or of processes (where 0 means no limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Count(pub u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "a whole number above 0", |v| {
            v.as_integer()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
        })
        .map(Count)
    }
}

/// Host ports: `"8080"` (or `8080`) or `"30000-30999"`, within 1-65535, low to high.
#[derive(Debug, Clone, PartialEq)]
pub struct Ports(pub RangeInclusive<u16>);

impl<'de> Deserialize<'de> for Ports {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(
            d,
            "a port such as \"8080\" or a range such as \"30000-30999\" (ports 1-65535, low-high)",
            |v| match v {
                toml::Value::Integer(n) => u16::try_from(*n).ok().map(|p| p..=p),
                toml::Value::String(s) => parse_ports(s),
                _ => None,
            },
        )
        .and_then(|range| {
            if *range.start() == 0 || range.start() > range.end() {
                Err(serde::de::Error::custom(format!(
                    "expected ports within 1-65535 with the low port first, found \"{}-{}\"",
                    range.start(),
                    range.end()
                )))
            } else {
                Ok(Ports(range))
            }
        })
    }
}

pub fn parse_ports(text: &str) -> Option<RangeInclusive<u16>> {
    let port = |s: &str| s.trim().parse::<u16>().ok();
    match text.split_once('-') {
        Some((low, high)) => Some(port(low)?..=port(high)?),
        None => port(text).map(|p| p..=p),
    }
}

/// A name the file gives a team or an engine: it ends up in labels, container names
/// and folder names, so it is kept simple. Lowercase letters, digits, `-`, `_` and
/// `.`, at most 63, and the first character a letter or digit: a team's name is
/// also a folder of the state folder (admission), where `.` and `..` would mean
/// other folders.
pub fn is_simple_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        let sizes = [
            ("1", Some(1)),
            ("512k", Some(512 << 10)),
            ("512KB", Some(512 << 10)),
            ("512kib", Some(512 << 10)),
            ("256m", Some(256 << 20)),
            ("2g", Some(2 << 30)),
            ("2 g", Some(2 << 30)),
            ("100b", Some(100)),
            ("0", None),
            ("0g", None),
            ("", None),
            ("g", None),
            ("1.5g", None),
            ("-1m", None),
            ("1x", None),
            ("99999999999t", None),
        ];
        for (text, want) in sizes {
            assert_eq!(parse_size(text), want, "{text}");
        }
        let durations = [
            ("500ms", Some(Duration::from_millis(500))),
            ("30s", Some(Duration::from_secs(30))),
            ("5m", Some(Duration::from_secs(300))),
            ("1h", Some(Duration::from_secs(3600))),
            ("0s", None),
            ("5", None),
            ("5d", None),
            ("m", None),
        ];
        for (text, want) in durations {
            assert_eq!(parse_duration(text), want, "{text}");
        }
    }

    #[test]
    fn ages_are_durations_with_days_and_weeks() {
        let day = Duration::from_secs(86_400);
        for (text, want) in [
            ("90d", Some(90 * day)),
            ("4w", Some(28 * day)),
            ("12h", Some(Duration::from_secs(12 * 3600))),
            (" 1 d", Some(day)),
            ("0d", None),
            ("d", None),
            ("90", None),
            ("-1d", None),
            ("99999999999999999w", None),
        ] {
            assert_eq!(parse_age(text), want, "{text}");
        }
    }
}
