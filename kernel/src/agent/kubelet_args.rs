//! `--kubelet-arg key=value`: kubelet flags for the node agent, given as k3s gives them to its
//! kubelet (`k3s server --kubelet-arg=eviction-hard=memory.available<200Mi`). kmicro honours
//! the flags in [`SUPPORTED`]; any other is refused, never ignored.
//!
//! The rules are k3s's and kubelet's together:
//! - k3s: a leading `--` is dropped; the key ends at the first `=` (no `=`: the value is
//!   `true`); `key=value` replaces k3s's default for that flag, `key+=value` adds after it and
//!   `key-=value` before it; a flag given several times is passed to kubelet several times, in
//!   order. kmicro's defaults play the part of k3s's (for `eviction-hard`,
//!   [`DEFAULT_EVICTION_HARD`]).
//! - kubelet: `_` in a flag name is `-`; `--eviction-hard` is a map whose first occurrence
//!   *replaces* kubelet's default map and whose later occurrences add to it (a signal given
//!   again takes the later value). So `eviction-hard=nodefs.available<5%` leaves no memory or
//!   PID threshold at all, while `eviction-hard+=nodefs.available<5%` keeps the defaults and
//!   changes only the disk's. (kubelet's `mergeDefaultEvictionSettings` concerns its config
//!   file only, not the flag.) `eviction-hard=` (empty) sets no threshold.

use std::collections::BTreeMap;
use std::time::Duration;

use super::eviction::{self, DEFAULT_EVICTION_HARD, EvictionError, Thresholds};
use super::pods::ImageGcPolicy;

/// The kubelet flags kmicro's agent honours.
pub const SUPPORTED: &[&str] = &[
    "eviction-hard",
    "image-gc-high-threshold",
    "image-gc-low-threshold",
    "image-minimum-gc-age",
];

/// Where a value goes relative to kmicro's default for its flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// `key=value`: instead of the default.
    Replace,
    /// `key+=value`: after the default.
    Append,
    /// `key-=value`: before the default.
    Prepend,
}

/// What one `--kubelet-arg` sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KubeletSetting {
    /// `eviction-hard`: its `signal<value` pairs, in order (checked when all are merged, as
    /// kubelet checks its final map).
    EvictionHard(Vec<(String, String)>),
    /// `image-gc-high-threshold`: percent of disk usage that starts image collection.
    ImageGcHighThreshold(u8),
    /// `image-gc-low-threshold`: percent of disk usage collection brings it down to.
    ImageGcLowThreshold(u8),
    /// `image-minimum-gc-age`: images used more recently are never collected.
    ImageMinimumGcAge(Duration),
}

/// One `--kubelet-arg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeletArg {
    /// Where the value goes relative to the default.
    pub placement: Placement,
    /// The flag and its value.
    pub setting: KubeletSetting,
}

/// Why `--kubelet-arg`s were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KubeletArgError {
    /// A flag kmicro's agent does not honour.
    #[error(
        "kubelet flag --{key} is not supported by kmicro's node agent (supported: {})",
        SUPPORTED.join(", ")
    )]
    Unsupported {
        /// The flag's name as given (without `--`, `+` or `-`).
        key: String,
    },
    /// A value the flag cannot take (pflag's text).
    #[error("invalid argument {value:?} for \"--{key}\" flag: {reason}")]
    Invalid {
        /// The flag.
        key: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong with it (in the message, not a separate source: the message is what
        /// clap prints).
        reason: EvictionError,
    },
    /// A value a plain (non-map) flag cannot take.
    #[error("invalid argument {value:?} for \"--{key}\" flag: {reason}")]
    InvalidValue {
        /// The flag.
        key: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Image GC thresholds kubelet would refuse together.
    #[error(
        "--kubelet-arg image-gc-low-threshold ({low}) must not be greater than image-gc-high-threshold ({high})"
    )]
    ImageGcThresholds {
        /// The high threshold.
        high: u8,
        /// The low threshold.
        low: u8,
    },
    /// A threshold of the merged `eviction-hard` map that kubelet would refuse.
    #[error("--kubelet-arg {key}: {reason}")]
    Threshold {
        /// The flag.
        key: &'static str,
        /// What is wrong.
        reason: EvictionError,
    },
}

impl KubeletArg {
    /// Parses `key=value` (`key+=value`, `key-=value`, a leading `--` allowed); the key must
    /// be one of [`SUPPORTED`] and the value of the flag's syntax.
    pub fn parse(s: &str) -> Result<Self, KubeletArgError> {
        let s = s.strip_prefix("--").unwrap_or(s);
        let (arg, value) = s.split_once('=').unwrap_or((s, "true"));
        let placement = if arg.ends_with('+') {
            Placement::Append
        } else if arg.ends_with('-') {
            Placement::Prepend
        } else {
            Placement::Replace
        };
        let key = arg.trim_end_matches(['+', '-']).replace('_', "-");
        let setting =
            match key.as_str() {
                "eviction-hard" => KubeletSetting::EvictionHard(
                    eviction::parse_pairs(value).map_err(|reason| KubeletArgError::Invalid {
                        key: "eviction-hard",
                        value: value.to_string(),
                        reason,
                    })?,
                ),
                "image-gc-high-threshold" => {
                    KubeletSetting::ImageGcHighThreshold(percent("image-gc-high-threshold", value)?)
                }
                "image-gc-low-threshold" => {
                    KubeletSetting::ImageGcLowThreshold(percent("image-gc-low-threshold", value)?)
                }
                "image-minimum-gc-age" => KubeletSetting::ImageMinimumGcAge(
                    kmicro_apimachinery::duration::parse_duration(value).ok_or_else(|| {
                        KubeletArgError::InvalidValue {
                            key: "image-minimum-gc-age",
                            value: value.to_string(),
                            reason: format!("time: invalid duration {value:?}"),
                        }
                    })?,
                ),
                _ => {
                    return Err(KubeletArgError::Unsupported {
                        key: arg.trim_end_matches(['+', '-']).to_string(),
                    });
                }
            };
        Ok(Self { placement, setting })
    }
}

/// A percentage flag's value: an integer from 0 to 100, as kubelet validates it.
fn percent(key: &'static str, value: &str) -> Result<u8, KubeletArgError> {
    let invalid = |reason: &str| KubeletArgError::InvalidValue {
        key,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid("not an integer"))?;
    u8::try_from(n)
        .ok()
        .filter(|n| *n <= 100)
        .ok_or_else(|| invalid("must be between 0 and 100, inclusive"))
}

/// What the `--kubelet-arg`s set, defaults included.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeletSettings {
    /// The hard eviction thresholds.
    pub eviction_hard: Thresholds,
    /// When unused images are collected.
    pub image_gc: ImageGcPolicy,
}

/// One `--eviction-hard` occurrence as kubelet would receive it.
enum Occurrence<'a> {
    /// k3s's (here kmicro's) default value.
    Default,
    /// A value from a `--kubelet-arg`.
    Given(&'a [(String, String)]),
}

/// The settings `args` give, in order, with k3s's and kubelet's rules (see the module).
pub fn resolve(args: &[KubeletArg]) -> Result<KubeletSettings, KubeletArgError> {
    let mut occurrences: Option<Vec<Occurrence<'_>>> = None;
    let mut image_gc = ImageGcPolicy::default();
    for arg in args {
        let pairs = match &arg.setting {
            KubeletSetting::EvictionHard(pairs) => pairs,
            KubeletSetting::ImageGcHighThreshold(p) => {
                image_gc.high_threshold_percent = *p;
                continue;
            }
            KubeletSetting::ImageGcLowThreshold(p) => {
                image_gc.low_threshold_percent = *p;
                continue;
            }
            KubeletSetting::ImageMinimumGcAge(age) => {
                image_gc.minimum_age = *age;
                continue;
            }
        };
        // The default takes part only where the flag first appears, as k3s drops its initial
        // value once the flag has been given.
        let first = occurrences.is_none();
        let earlier = occurrences.take().unwrap_or_default();
        let default = first.then_some(Occurrence::Default);
        let given = Occurrence::Given(pairs);
        let merged: Vec<Occurrence<'_>> = match arg.placement {
            Placement::Replace => earlier.into_iter().chain([given]).collect(),
            Placement::Append => default.into_iter().chain(earlier).chain([given]).collect(),
            Placement::Prepend => [given].into_iter().chain(default).chain(earlier).collect(),
        };
        occurrences = Some(merged);
    }
    let eviction_hard = match occurrences {
        None => Thresholds::kmicro_default(),
        Some(occurrences) => {
            let invalid = |reason| KubeletArgError::Threshold {
                key: "eviction-hard",
                reason,
            };
            let mut map = BTreeMap::new();
            for occurrence in occurrences {
                let pairs = match occurrence {
                    Occurrence::Default => {
                        eviction::parse_pairs(DEFAULT_EVICTION_HARD).map_err(invalid)?
                    }
                    Occurrence::Given(pairs) => pairs.to_vec(),
                };
                map.extend(pairs);
            }
            Thresholds::from_map(&map).map_err(invalid)?
        }
    };
    if image_gc.low_threshold_percent > image_gc.high_threshold_percent {
        return Err(KubeletArgError::ImageGcThresholds {
            high: image_gc.high_threshold_percent,
            low: image_gc.low_threshold_percent,
        });
    }
    Ok(KubeletSettings {
        eviction_hard,
        image_gc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::eviction::{Signal, ThresholdValue};

    fn resolved(args: &[&str]) -> Result<Thresholds, String> {
        let args: Vec<KubeletArg> = args
            .iter()
            .map(|a| KubeletArg::parse(a).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        resolve(&args)
            .map(|s| s.eviction_hard)
            .map_err(|e| e.to_string())
    }

    fn thresholds(text: &str) -> Thresholds {
        let map = eviction::parse_pairs(text).unwrap().into_iter().collect();
        Thresholds::from_map(&map).unwrap()
    }

    #[test]
    fn without_the_flag_the_defaults_hold() {
        assert_eq!(resolved(&[]).unwrap(), Thresholds::kmicro_default());
    }

    #[test]
    fn the_flag_replaces_the_whole_default_map() {
        let t = resolved(&["eviction-hard=nodefs.available<1%"]).unwrap();
        assert_eq!(t, thresholds("nodefs.available<1%"));
        assert_eq!(t.get(Signal::MemoryAvailable), None);
        assert_eq!(t.get(Signal::PidAvailable), None);
        assert_eq!(resolved(&["eviction-hard="]).unwrap(), Thresholds::none());
    }

    #[test]
    fn repeated_flags_add_up_later_signals_winning() {
        let t = resolved(&[
            "eviction-hard=memory.available<1Gi,nodefs.available<1%",
            "--eviction-hard=nodefs.available<2%",
        ])
        .unwrap();
        assert_eq!(t, thresholds("memory.available<1Gi,nodefs.available<2%"));
    }

    #[test]
    fn plus_and_minus_place_the_value_around_the_default() {
        // += : the default first, so the given signals win.
        let t = resolved(&["eviction-hard+=nodefs.available<1%"]).unwrap();
        assert_eq!(
            t,
            thresholds(
                "memory.available<100Mi,nodefs.available<1%,nodefs.inodesFree<5%,pid.available<10%"
            )
        );
        // -= : the default last, so it wins where both set a signal.
        let t = resolved(&["eviction-hard-=nodefs.available<1%,memory.available<0%"]).unwrap();
        assert_eq!(t, Thresholds::kmicro_default());
        // The default takes part only where the flag first appears.
        let t = resolved(&[
            "eviction-hard=memory.available<1Mi",
            "eviction-hard+=nodefs.available<1Mi",
        ])
        .unwrap();
        assert_eq!(t, thresholds("memory.available<1Mi,nodefs.available<1Mi"));
        let t = resolved(&[
            "eviction-hard+=memory.available<1Mi",
            "eviction-hard=nodefs.available<1Mi",
        ])
        .unwrap();
        assert_eq!(
            t.get(Signal::PidAvailable),
            Some(ThresholdValue::Percentage(0.1))
        );
        assert_eq!(
            t.get(Signal::NodeFsAvailable),
            Some(ThresholdValue::Quantity(1 << 20))
        );
    }

    #[test]
    fn underscores_are_hyphens_as_kubelet_normalizes_them() {
        assert_eq!(
            resolved(&["eviction_hard=memory.available<1Mi"]).unwrap(),
            thresholds("memory.available<1Mi")
        );
    }

    #[test]
    fn other_keys_are_refused_naming_the_supported_ones() {
        for (arg, key) in [
            ("max-pods=50", "max-pods"),
            ("--eviction-soft=memory.available<1Gi", "eviction-soft"),
            ("eviction-hard-x=1", "eviction-hard-x"),
            ("fail-swap-on", "fail-swap-on"),
        ] {
            assert_eq!(
                KubeletArg::parse(arg).unwrap_err().to_string(),
                format!(
                    "kubelet flag --{key} is not supported by kmicro's node agent (supported: eviction-hard, image-gc-high-threshold, image-gc-low-threshold, image-minimum-gc-age)"
                ),
                "{arg}"
            );
        }
    }

    #[test]
    fn bad_values_are_refused_with_kubelets_texts() {
        assert_eq!(
            resolved(&["eviction-hard=memory.available"]).unwrap_err(),
            "invalid argument \"memory.available\" for \"--eviction-hard\" flag: malformed pair, expect string<string"
        );
        // A flag without a value is `true` to k3s, which is no pair either.
        assert!(
            resolved(&["eviction-hard"])
                .unwrap_err()
                .contains("\"true\" for \"--eviction-hard\" flag: malformed pair")
        );
        assert_eq!(
            resolved(&["eviction-hard=memory.avail<1Gi"]).unwrap_err(),
            "--kubelet-arg eviction-hard: unsupported eviction signal memory.avail"
        );
        assert_eq!(
            resolved(&["eviction-hard=nodefs.available<150%"]).unwrap_err(),
            "--kubelet-arg eviction-hard: eviction percentage threshold nodefs.available must be <= 100%: 150%"
        );
        // As in kubelet, only the merged map is checked: a value replaced later is not.
        assert!(
            resolved(&[
                "eviction-hard=memory.available<lots",
                "eviction-hard=memory.available<1Gi"
            ])
            .is_ok()
        );
    }

    #[test]
    fn image_gc_flags_set_the_policy_and_are_checked_together() {
        let parse = |args: &[&str]| -> Result<ImageGcPolicy, String> {
            let args: Vec<KubeletArg> = args
                .iter()
                .map(|a| KubeletArg::parse(a).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?;
            resolve(&args)
                .map(|s| s.image_gc)
                .map_err(|e| e.to_string())
        };
        assert_eq!(parse(&[]).unwrap(), ImageGcPolicy::default());
        let policy = parse(&[
            "image-gc-high-threshold=90",
            "image_gc_low_threshold=70",
            "image-minimum-gc-age=1m30s",
        ])
        .unwrap();
        assert_eq!(
            policy,
            ImageGcPolicy {
                high_threshold_percent: 90,
                low_threshold_percent: 70,
                minimum_age: Duration::from_secs(90),
            }
        );
        assert_eq!(
            parse(&["image-gc-high-threshold=101"]).unwrap_err(),
            "invalid argument \"101\" for \"--image-gc-high-threshold\" flag: must be between 0 and 100, inclusive"
        );
        assert!(
            parse(&["image-minimum-gc-age=soon"])
                .unwrap_err()
                .contains("invalid duration")
        );
        assert_eq!(
            parse(&["image-gc-high-threshold=50", "image-gc-low-threshold=60"]).unwrap_err(),
            "--kubelet-arg image-gc-low-threshold (60) must not be greater than image-gc-high-threshold (50)"
        );
    }
}
