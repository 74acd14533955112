//! `human_duration` against kube's `duration.HumanDuration` rules.

use jiff::SignedDuration;

use crate::table::human_duration;

#[test]
fn human_duration_follows_kube() {
    const MIN: i64 = 60;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    let cases: &[(i64, &str)] = &[
        (-3, "<invalid>"),
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (59, "59s"),
        (119, "119s"),
        (2 * MIN, "2m"),
        (3 * MIN + 20, "3m20s"),
        (9 * MIN + 59, "9m59s"),
        (10 * MIN, "10m"),
        (10 * MIN + 30, "10m"),
        (45 * MIN, "45m"),
        (3 * HOUR - 1, "179m"),
        (3 * HOUR, "3h"),
        (5 * HOUR + 30 * MIN, "5h30m"),
        (7 * HOUR + 59 * MIN + 59, "7h59m"),
        (8 * HOUR, "8h"),
        (8 * HOUR + 59 * MIN, "8h"),
        (47 * HOUR, "47h"),
        (48 * HOUR, "2d"),
        (3 * DAY + 4 * HOUR, "3d4h"),
        (8 * DAY - HOUR, "7d23h"),
        (8 * DAY, "8d"),
        (45 * DAY, "45d"),
        (729 * DAY, "729d"),
        (730 * DAY, "2y"),
        (3 * 365 * DAY + 120 * DAY, "3y120d"),
        (8 * 365 * DAY - DAY, "7y364d"),
        (8 * 365 * DAY, "8y"),
        (10 * 365 * DAY + 100 * DAY, "10y"),
    ];
    for &(secs, want) in cases {
        assert_eq!(
            human_duration(SignedDuration::from_secs(secs)),
            want,
            "{secs}s"
        );
    }
}

#[test]
fn fractions_of_a_second_truncate_toward_zero() {
    assert_eq!(human_duration(SignedDuration::from_millis(-1999)), "0s");
    assert_eq!(
        human_duration(SignedDuration::from_millis(-2000)),
        "<invalid>"
    );
    assert_eq!(human_duration(SignedDuration::from_millis(119_999)), "119s");
    assert_eq!(human_duration(SignedDuration::from_millis(1500)), "1s");
}
