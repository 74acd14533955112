//! Hard eviction thresholds as kubelet reads them (`--eviction-hard`,
//! `memory.available<100Mi,nodefs.available<10%`): the signals, a threshold's value (a quantity,
//! or a share of capacity), and what a threshold amounts to for a given capacity. No I/O.
//!
//! kubelet's rules, kept here:
//! - the flag's text is a map: `signal<value` pairs split on `,`, each side trimmed, a later
//!   pair of the same signal replacing the earlier (component-base's
//!   `LangleSeparatedMapStringString`); a pair without `<` is `malformed pair, expect
//!   string<string`;
//! - each entry of the final map is then checked (`parseThresholdStatement`): the signal must be
//!   one kubelet knows; `0%` and `100%` mean no threshold; other percentages are parsed as
//!   single-precision floats and must lie in 0–100%; a quantity must be positive;
//! - a percentage amounts to `capacity × percentage` (in double precision, from the
//!   single-precision share, truncated: `GetThresholdQuantity`); a quantity to its value
//!   rounded up;
//! - a signal is under pressure while what is available is below that amount.
//!
//! kmicro's node agent measures `memory.available` (the host's `MemAvailable` against
//! `MemTotal`), `nodefs.available` and `nodefs.inodesFree` (the data dir's file system) and
//! `pid.available` (process ids). kubelet's other signals (`imagefs.*`, `containerfs.*`,
//! `allocatableMemory.available`) are accepted, as kubelet accepts them, and reported by
//! [`Thresholds::unevaluated`]: kmicro has no image or container file system yet.

use std::collections::BTreeMap;
use std::fmt;

use kmicro_apimachinery::quantity::{self, QUANTITY_ERROR};

/// The thresholds the agent uses when no `eviction-hard` is given, in kubelet's syntax:
/// kubelet's Linux defaults for the signals kmicro measures (`memory.available<100Mi`,
/// `nodefs.available<10%`, `nodefs.inodesFree<5%`; its `imagefs.available<15%` has nothing to
/// measure yet) and kmicro's own `pid.available<10%` (kubelet has no default for it).
pub const DEFAULT_EVICTION_HARD: &str =
    "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,pid.available<10%";

/// An eviction signal: what is measured against a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// `memory.available`: memory available to the node, in bytes.
    MemoryAvailable,
    /// `nodefs.available`: space available on the node's file system (the data dir's).
    NodeFsAvailable,
    /// `nodefs.inodesFree`: inodes free on the node's file system.
    NodeFsInodesFree,
    /// `pid.available`: process ids not in use.
    PidAvailable,
    /// `imagefs.available`: space on the image file system (not measured by kmicro yet).
    ImageFsAvailable,
    /// `imagefs.inodesFree`: inodes on the image file system (not measured by kmicro yet).
    ImageFsInodesFree,
    /// `containerfs.available`: space on the container file system (not measured by kmicro).
    ContainerFsAvailable,
    /// `containerfs.inodesFree`: inodes on the container file system (not measured by kmicro).
    ContainerFsInodesFree,
    /// `allocatableMemory.available`: memory left to pods (not measured by kmicro yet).
    AllocatableMemoryAvailable,
}

impl Signal {
    /// Every signal kubelet accepts.
    pub const ALL: [Self; 9] = [
        Self::MemoryAvailable,
        Self::NodeFsAvailable,
        Self::NodeFsInodesFree,
        Self::PidAvailable,
        Self::ImageFsAvailable,
        Self::ImageFsInodesFree,
        Self::ContainerFsAvailable,
        Self::ContainerFsInodesFree,
        Self::AllocatableMemoryAvailable,
    ];

    /// The signal's name, as kubelet spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MemoryAvailable => "memory.available",
            Self::NodeFsAvailable => "nodefs.available",
            Self::NodeFsInodesFree => "nodefs.inodesFree",
            Self::PidAvailable => "pid.available",
            Self::ImageFsAvailable => "imagefs.available",
            Self::ImageFsInodesFree => "imagefs.inodesFree",
            Self::ContainerFsAvailable => "containerfs.available",
            Self::ContainerFsInodesFree => "containerfs.inodesFree",
            Self::AllocatableMemoryAvailable => "allocatableMemory.available",
        }
    }

    /// The signal named `name` (case-sensitive, as in kubelet).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether kmicro's agent measures this signal.
    pub fn is_evaluated(self) -> bool {
        matches!(
            self,
            Self::MemoryAvailable
                | Self::NodeFsAvailable
                | Self::NodeFsInodesFree
                | Self::PidAvailable
        )
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A threshold's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ThresholdValue {
    /// An amount: bytes for memory and file systems, a count for inodes and process ids.
    Quantity(u64),
    /// A share of capacity, in 0–1, single precision as kubelet keeps it.
    Percentage(f32),
}

impl ThresholdValue {
    /// What the threshold amounts to for `capacity`: a quantity as it is, a percentage as
    /// kubelet's `GetThresholdQuantity` computes it (double-precision product, truncated).
    pub fn amount(self, capacity: u64) -> u64 {
        match self {
            Self::Quantity(q) => q,
            // `as` truncates toward zero and saturates, as Go's int64 conversion truncates.
            Self::Percentage(p) => (capacity as f64 * f64::from(p)) as u64,
        }
    }
}

/// Why an `eviction-hard` value was refused; the texts are kubelet's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvictionError {
    /// A pair without `<`.
    #[error("malformed pair, expect string<string")]
    MalformedPair,
    /// A signal kubelet does not know.
    #[error("unsupported eviction signal {0}")]
    UnsupportedSignal(String),
    /// A percentage that is not a number.
    #[error("strconv.ParseFloat: parsing {0:?}: invalid syntax")]
    PercentageSyntax(String),
    /// A percentage too large for single precision.
    #[error("strconv.ParseFloat: parsing {0:?}: value out of range")]
    PercentageRange(String),
    /// A negative percentage.
    #[error("eviction percentage threshold {signal} must be >= 0%: {value}")]
    PercentageBelowZero {
        /// The signal.
        signal: Signal,
        /// The value as given.
        value: String,
    },
    /// A percentage over 100.
    #[error("eviction percentage threshold {signal} must be <= 100%: {value}")]
    PercentageOverHundred {
        /// The signal.
        signal: Signal,
        /// The value as given.
        value: String,
    },
    /// A value that is neither a percentage nor a quantity.
    #[error("{QUANTITY_ERROR}")]
    Quantity,
    /// A quantity of zero or less.
    #[error("eviction threshold {signal} must be positive: {value}")]
    NotPositive {
        /// The signal.
        signal: Signal,
        /// The quantity, in kube's canonical form.
        value: String,
    },
}

/// The `signal<value` pairs of one `--eviction-hard` value, in order, trimmed; empty items
/// (`a<1,,b<2`, or an empty value) are skipped, as kubelet skips them.
pub fn parse_pairs(value: &str) -> Result<Vec<(String, String)>, EvictionError> {
    value
        .split(',')
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (signal, value) = item.split_once('<').ok_or(EvictionError::MalformedPair)?;
            Ok((signal.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

/// One threshold (kubelet's `parseThresholdStatement`); `None` for `0%` and `100%`, which
/// kubelet ignores.
pub fn parse_threshold(
    signal: &str,
    value: &str,
) -> Result<Option<(Signal, ThresholdValue)>, EvictionError> {
    let signal =
        Signal::parse(signal).ok_or_else(|| EvictionError::UnsupportedSignal(signal.into()))?;
    if value.ends_with('%') {
        if value == "0%" || value == "100%" {
            return Ok(None);
        }
        let share = parse_percentage(value)?;
        if share < 0.0 {
            return Err(EvictionError::PercentageBelowZero {
                signal,
                value: value.into(),
            });
        }
        if share > 1.0 {
            return Err(EvictionError::PercentageOverHundred {
                signal,
                value: value.into(),
            });
        }
        return Ok(Some((signal, ThresholdValue::Percentage(share))));
    }
    let whole = quantity::whole_value(value).ok_or(EvictionError::Quantity)?;
    if whole <= 0 {
        return Err(EvictionError::NotPositive {
            signal,
            value: quantity::canonical_text(value).unwrap_or_else(|| value.to_string()),
        });
    }
    let amount = u64::try_from(whole).unwrap_or(u64::MAX);
    Ok(Some((signal, ThresholdValue::Quantity(amount))))
}

/// A percentage as kubelet's `parsePercentage` reads it: every trailing `%` removed, the rest
/// a single-precision float, divided by 100. A NaN is refused as not a number (kubelet would
/// take it and never be under pressure).
fn parse_percentage(value: &str) -> Result<f32, EvictionError> {
    let number = value.trim_end_matches('%');
    let parsed: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| !n.is_nan())
        .ok_or_else(|| EvictionError::PercentageSyntax(number.into()))?;
    if parsed.is_finite() && parsed.abs() > f64::from(f32::MAX) {
        return Err(EvictionError::PercentageRange(number.into()));
    }
    Ok(parsed as f32 / 100.0)
}

/// The hard eviction thresholds in force: at most one per signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    by_signal: BTreeMap<Signal, ThresholdValue>,
}

impl Thresholds {
    /// kmicro's defaults ([`DEFAULT_EVICTION_HARD`]).
    pub fn kmicro_default() -> Self {
        Self {
            by_signal: BTreeMap::from([
                (Signal::MemoryAvailable, ThresholdValue::Quantity(100 << 20)),
                (Signal::NodeFsAvailable, ThresholdValue::Percentage(0.1)),
                (Signal::NodeFsInodesFree, ThresholdValue::Percentage(0.05)),
                (Signal::PidAvailable, ThresholdValue::Percentage(0.1)),
            ]),
        }
    }

    /// No threshold at all (`eviction-hard=`: nothing is ever under pressure).
    pub fn none() -> Self {
        Self {
            by_signal: BTreeMap::new(),
        }
    }

    /// The thresholds of kubelet's `evictionHard` map (signal → value), every entry checked
    /// as kubelet checks it (in signal-name order, so the first error is always the same).
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<Self, EvictionError> {
        let mut by_signal = BTreeMap::new();
        for (signal, value) in map {
            if let Some((signal, value)) = parse_threshold(signal, value)? {
                by_signal.insert(signal, value);
            }
        }
        Ok(Self { by_signal })
    }

    /// The threshold of `signal`, if there is one.
    pub fn get(&self, signal: Signal) -> Option<ThresholdValue> {
        self.by_signal.get(&signal).copied()
    }

    /// What `signal`'s threshold amounts to for `capacity` (0 without a threshold: nothing is
    /// held back and nothing is ever below it).
    pub fn amount(&self, signal: Signal, capacity: u64) -> u64 {
        self.get(signal).map_or(0, |t| t.amount(capacity))
    }

    /// Whether `available` out of `capacity` is below `signal`'s threshold.
    pub fn is_below(&self, signal: Signal, available: u64, capacity: u64) -> bool {
        self.get(signal)
            .is_some_and(|t| available < t.amount(capacity))
    }

    /// The signals with a threshold that kmicro does not measure.
    pub fn unevaluated(&self) -> impl Iterator<Item = Signal> + '_ {
        self.by_signal.keys().copied().filter(|s| !s.is_evaluated())
    }
}

impl fmt::Display for Thresholds {
    /// In kubelet's syntax, signals in kubelet's order (`memory.available<100Mi,…`); `none`
    /// when there is no threshold.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.by_signal.is_empty() {
            return f.write_str("none");
        }
        for (i, (signal, value)) in self.by_signal.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match value {
                ThresholdValue::Quantity(q) => write!(f, "{signal}<{q}")?,
                ThresholdValue::Percentage(p) => {
                    // Rounded to four decimals: 7.5% is 0.075 in single precision, 7.5000003%.
                    let percent = (f64::from(*p) * 1e6).round() / 1e4;
                    write!(f, "{signal}<{percent}%")?
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: &str) -> BTreeMap<String, String> {
        parse_pairs(value).unwrap().into_iter().collect()
    }

    fn thresholds(value: &str) -> Result<Thresholds, EvictionError> {
        Thresholds::from_map(&map(value))
    }

    #[test]
    fn the_default_text_is_the_default() {
        assert_eq!(
            thresholds(DEFAULT_EVICTION_HARD).unwrap(),
            Thresholds::kmicro_default()
        );
        assert_eq!(
            Thresholds::kmicro_default().unevaluated().count(),
            0,
            "kmicro's defaults are all measured"
        );
    }

    #[test]
    fn pairs_follow_kubelets_map_flag() {
        assert_eq!(
            parse_pairs(" memory.available < 1Gi ,,nodefs.available<5%").unwrap(),
            vec![
                ("memory.available".to_string(), "1Gi".to_string()),
                ("nodefs.available".to_string(), "5%".to_string()),
            ]
        );
        assert_eq!(parse_pairs("").unwrap(), vec![]);
        for bad in ["memory.available", "a<1, ", "true"] {
            assert_eq!(
                parse_pairs(bad).unwrap_err().to_string(),
                "malformed pair, expect string<string",
                "{bad}"
            );
        }
        // A later pair of the same signal wins.
        assert_eq!(
            map("memory.available<1Gi,memory.available<2Gi")["memory.available"],
            "2Gi"
        );
    }

    #[test]
    fn quantities_and_percentages() {
        let t =
            thresholds("memory.available<1.5Ki,nodefs.available<7.5%,pid.available<1k").unwrap();
        assert_eq!(
            t.get(Signal::MemoryAvailable),
            Some(ThresholdValue::Quantity(1536))
        );
        assert_eq!(
            t.get(Signal::NodeFsAvailable),
            Some(ThresholdValue::Percentage(0.075))
        );
        assert_eq!(t.amount(Signal::PidAvailable, 0), 1000);
        assert_eq!(t.get(Signal::NodeFsInodesFree), None);
        assert_eq!(t.amount(Signal::NodeFsInodesFree, 1000), 0);
        // A fraction of a unit rounds up, as Quantity.Value() does.
        assert_eq!(
            thresholds("memory.available<0.5")
                .unwrap()
                .amount(Signal::MemoryAvailable, 0),
            1
        );
    }

    #[test]
    fn zero_and_hundred_percent_mean_no_threshold() {
        let t = thresholds("memory.available<0%,nodefs.available<100%").unwrap();
        assert_eq!(t, Thresholds::none());
        assert_eq!(t.to_string(), "none");
        assert!(!t.is_below(Signal::NodeFsAvailable, 0, 100));
    }

    #[test]
    fn percentages_amount_as_kubelet_computes_them() {
        // 10% is 0.1 in single precision (0.100000001…): kubelet's product of 10 GiB is
        // 1073741840, not 1073741824.
        let t = thresholds("nodefs.available<10%").unwrap();
        assert_eq!(t.amount(Signal::NodeFsAvailable, 10 << 30), 1_073_741_840);
        assert_eq!(t.amount(Signal::NodeFsAvailable, 1000), 100);
        assert!(t.is_below(Signal::NodeFsAvailable, 99, 1000));
        assert!(
            !t.is_below(Signal::NodeFsAvailable, 100, 1000),
            "at it is not below"
        );
        assert_eq!(t.to_string(), "nodefs.available<10%");
    }

    #[test]
    fn kubelets_error_texts() {
        let err = |value: &str| thresholds(value).unwrap_err().to_string();
        assert_eq!(
            err("memory.avail<1Gi"),
            "unsupported eviction signal memory.avail"
        );
        assert_eq!(err("<1Gi"), "unsupported eviction signal ");
        assert_eq!(
            err("nodefs.available<150%"),
            "eviction percentage threshold nodefs.available must be <= 100%: 150%"
        );
        assert_eq!(
            err("nodefs.available<-5%"),
            "eviction percentage threshold nodefs.available must be >= 0%: -5%"
        );
        assert_eq!(
            err("nodefs.available<ten%"),
            "strconv.ParseFloat: parsing \"ten\": invalid syntax"
        );
        assert_eq!(
            err("nodefs.available<NaN%"),
            "strconv.ParseFloat: parsing \"NaN\": invalid syntax"
        );
        assert_eq!(
            err("nodefs.available<1e39%"),
            "strconv.ParseFloat: parsing \"1e39\": value out of range"
        );
        assert_eq!(err("memory.available<1GB"), QUANTITY_ERROR);
        assert_eq!(err("memory.available<"), QUANTITY_ERROR);
        assert_eq!(
            err("memory.available<0Mi"),
            "eviction threshold memory.available must be positive: 0"
        );
        assert_eq!(
            err("memory.available<-5Mi"),
            "eviction threshold memory.available must be positive: -5Mi"
        );
    }

    #[test]
    fn signals_kmicro_does_not_measure_are_accepted_and_named() {
        let t = thresholds("imagefs.available<15%,nodefs.available<5%").unwrap();
        assert_eq!(
            t.unevaluated().collect::<Vec<_>>(),
            [Signal::ImageFsAvailable]
        );
        for signal in Signal::ALL {
            assert_eq!(Signal::parse(signal.as_str()), Some(signal));
        }
        assert_eq!(Signal::parse("Memory.available"), None);
    }
}
