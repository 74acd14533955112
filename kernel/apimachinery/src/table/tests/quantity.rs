//! Canonical quantities, as kube-apiserver stores and prints them.

use serde_json::json;

use crate::quantity::canonical_json as canonical;

#[test]
fn quantities_print_in_kube_canonical_form() {
    let cases = [
        ("0", "0"),
        ("0Gi", "0"),
        ("1", "1"),
        ("1000", "1k"),
        ("1500", "1500"),
        ("0.5", "500m"),
        ("0.1", "100m"),
        ("100m", "100m"),
        ("2000m", "2"),
        ("1.5", "1500m"),
        ("10G", "10G"),
        ("1000M", "1G"),
        ("1e3", "1e3"),
        ("1500e0", "1500"),
        ("12e6", "12e6"),
        ("1E", "1E"),
        ("0.0000000001", "1n"),
        ("1Ki", "1Ki"),
        ("1024", "1024"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Gi", "512Mi"),
        ("1000Ki", "1000Ki"),
        ("100Mi", "100Mi"),
        ("512", "512"),
        ("0.5Ki", "512"),
        ("+5Gi", "5Gi"),
        ("-5Gi", "-5Gi"),
        ("-0.5", "-500m"),
        (" 3Gi ", "3Gi"),
        ("007", "7"),
    ];
    for (given, want) in cases {
        assert_eq!(canonical(&json!(given)), want, "{given}");
    }
    assert_eq!(canonical(&json!(2)), "2");
    assert_eq!(canonical(&json!(null)), "0");
    // Not a quantity: printed as given.
    assert_eq!(canonical(&json!("lots")), "lots");
    assert_eq!(canonical(&json!("5Xi")), "5Xi");
}
