use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(s: &str) -> LabelSelector {
    LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn parse_err(s: &str) -> String {
    match LabelSelector::parse(s) {
        Ok(sel) => panic!("{s:?} should not parse, got {sel}"),
        Err(SelectorError::InvalidLabelSelector(m)) => m,
        Err(other) => panic!("{s:?}: unexpected error kind {other:?}"),
    }
}

const VALUE_REGEX_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_REGEX_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const PREFIX_REGEX_MSG: &str = "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

#[test]
fn parses_every_operator() {
    let cases: &[(&str, Operator, &[&str])] = &[
        ("x=a", Operator::Equals, &["a"]),
        ("x==a", Operator::DoubleEquals, &["a"]),
        ("x!=a", Operator::NotEquals, &["a"]),
        ("x in (b,a)", Operator::In, &["a", "b"]),
        ("x notin (a)", Operator::NotIn, &["a"]),
        ("x", Operator::Exists, &[]),
        ("!x", Operator::DoesNotExist, &[]),
        ("x>3", Operator::GreaterThan, &["3"]),
        ("x<0", Operator::LessThan, &["0"]),
    ];
    for (s, op, values) in cases {
        let sel = parse(s);
        let [r] = sel.requirements() else {
            panic!("{s}: one requirement expected")
        };
        assert_eq!(r.key(), "x", "{s}");
        assert_eq!(r.operator(), *op, "{s}");
        assert_eq!(r.values(), *values, "{s}");
    }
}

#[test]
fn parses_valid_selectors() {
    let cases = [
        ("", ""),
        ("   ", ""),
        ("x=a", "x=a"),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("z=c,x=a,y=b", "x=a,y=b,z=c"),
        (" x = a , y != b ", "x=a,y!=b"),
        ("\tx\n=\ra", "x=a"),
        ("x==a", "x==a"),
        ("x=", "x="),
        ("x=,y=b", "x=,y=b"),
        ("x!=", "x!="),
        ("x in (a,b,c)", "x in (a,b,c)"),
        ("x in(a)", "x in (a)"),
        ("x in ( c , b , a )", "x in (a,b,c)"),
        ("x in (a,a,b)", "x in (a,b)"),
        ("x in ()", "x in ()"),
        ("x in (,)", "x in ()"),
        ("x in (a,)", "x in (,a)"),
        ("x in (,a)", "x in (,a)"),
        ("x in (a,,b)", "x in (,a,b)"),
        ("x notin (a,b)", "x notin (a,b)"),
        ("x", "x"),
        ("!x", "!x"),
        ("! x", "!x"),
        ("x,!y", "x,!y"),
        ("y,!x", "!x,y"),
        ("x,y,z", "x,y,z"),
        ("x>1", "x>1"),
        ("x<100,x>1", "x<100,x>1"),
        ("in in (in)", "in in (in)"),
        ("notin notin (notin)", "notin notin (notin)"),
        ("x=in", "x=in"),
        ("example.com/app=web", "example.com/app=web"),
        ("a.b-c_d=e.f-g_h", "a.b-c_d=e.f-g_h"),
        (
            "x in (foo,,baz),y,z notin ()",
            "x in (,baz,foo),y,z notin ()",
        ),
    ];
    for (input, canonical) in cases {
        let sel = parse(input);
        assert_eq!(sel.to_string(), canonical, "{input:?}");
        // The canonical form parses back to the same selector.
        assert_eq!(parse(canonical), sel, "{canonical:?}");
    }
    assert!(parse("").is_empty());
    assert!(parse(" \t").is_empty());
    assert!(!parse("x").is_empty());
}

#[test]
fn reports_grammar_errors_as_kube_does() {
    let cases = [
        ("x=a b", "found 'b', expected: ',' or 'end of string'"),
        ("x=a,", "found '', expected: identifier after ','"),
        ("x,,y", "found ',', expected: identifier after ','"),
        ("x=a,=b", "found '=', expected: identifier after ','"),
        (
            "=a",
            "found '=', expected: !, identifier, or 'end of string'",
        ),
        (
            ",",
            "found ',', expected: !, identifier, or 'end of string'",
        ),
        (
            "(x)",
            "found '(', expected: !, identifier, or 'end of string'",
        ),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        (
            "x y",
            "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "x!y",
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "x=>1",
            "unable to parse requirement: found '>', expected: identifier",
        ),
        (
            "x>=1",
            "unable to parse requirement: found '=', expected: identifier",
        ),
        (
            "!",
            "unable to parse requirement: found '', expected: identifier",
        ),
        (
            "!!x",
            "unable to parse requirement: found '!', expected: identifier",
        ),
        (
            "x in a",
            "unable to parse requirement: found 'a' expected: '('",
        ),
        (
            "x in",
            "unable to parse requirement: found '' expected: '('",
        ),
        (
            "x in (",
            "unable to parse requirement: found '', expected: ',', ')' or identifier",
        ),
        (
            "x in (=)",
            "unable to parse requirement: found '=', expected: ',', ')' or identifier",
        ),
        (
            "x in (a b)",
            "unable to parse requirement: found 'b', expected: ',' or ')'",
        ),
        (
            "x in (a",
            "unable to parse requirement: found '', expected: ',' or ')'",
        ),
        (
            "x in (,",
            "unable to parse requirement: found '', expected: ',', or identifier",
        ),
        (
            "x in (a,=)",
            "unable to parse requirement: found '=', expected: ',', or identifier",
        ),
        (
            "x=(a)",
            "unable to parse requirement: found '(', expected: identifier",
        ),
        (
            "x==!",
            "unable to parse requirement: found '!', expected: identifier",
        ),
        (
            "x notin a",
            "unable to parse requirement: found 'a' expected: '('",
        ),
    ];
    for (input, message) in cases {
        assert_eq!(parse_err(input), message, "{input:?}");
    }
}

#[test]
fn validates_keys_as_kube_does() {
    let err = |key: &str, detail: &str| {
        format!(
            "unable to parse requirement: <nil>: Invalid value: {}: {detail}",
            super::go_quote(key)
        )
    };
    assert_eq!(parse_err("-x=a"), err("-x", NAME_REGEX_MSG));
    assert_eq!(parse_err("x.=a"), err("x.", NAME_REGEX_MSG));
    assert_eq!(parse_err("x$y"), err("x$y", NAME_REGEX_MSG));
    assert_eq!(parse_err("x\"y"), err("x\"y", NAME_REGEX_MSG));
    assert_eq!(parse_err("/x"), err("/x", "prefix part must be non-empty"));
    assert_eq!(
        parse_err("x/"),
        err(
            "x/",
            &format!("name part must be non-empty; {NAME_REGEX_MSG}")
        )
    );
    assert_eq!(
        parse_err("Example.com/x"),
        err("Example.com/x", PREFIX_REGEX_MSG)
    );
    assert_eq!(
        parse_err("a/b/c"),
        err(
            "a/b/c",
            "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        )
    );
    let long_name = "a".repeat(64);
    assert_eq!(
        parse_err(&long_name),
        err(&long_name, "name part must be no more than 63 bytes")
    );
    assert!(LabelSelector::parse(&"a".repeat(63)).is_ok());
    let long_prefix = format!("{}/x", "a".repeat(254));
    assert_eq!(
        parse_err(&long_prefix),
        err(&long_prefix, "prefix part must be no more than 253 bytes")
    );
    let max_prefix = format!("{}.{}/x", "a".repeat(63), "b".repeat(189));
    assert_eq!(max_prefix.len(), 255);
    assert!(LabelSelector::parse(&max_prefix).is_ok());
    // Non-ASCII and control characters are quoted the way Go quotes them.
    assert_eq!(parse_err("é"), err("é", NAME_REGEX_MSG));
    assert!(parse_err("a\u{1}b").contains(r#""a\x01b""#));
}

#[test]
fn validates_values_as_kube_does() {
    assert_eq!(
        parse_err("x=a$b"),
        format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"a$b\": {VALUE_REGEX_MSG}"
        )
    );
    assert_eq!(
        parse_err("x in (b,-a)"),
        format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"-a\": {VALUE_REGEX_MSG}"
        )
    );
    let long = "a".repeat(64);
    assert_eq!(
        parse_err(&format!("x={long}")),
        format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"{long}\": must be no more than 63 bytes"
        )
    );
    assert!(LabelSelector::parse(&format!("x={}", "a".repeat(63))).is_ok());
    let long_bad = format!("{}-", "a".repeat(63));
    assert_eq!(
        parse_err(&format!("x={long_bad}")),
        format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"{long_bad}\": must be no more than 63 bytes; {VALUE_REGEX_MSG}"
        )
    );
}

#[test]
fn validates_gt_lt_values_as_kube_does() {
    assert_eq!(
        parse_err("x>a"),
        "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    assert_eq!(
        parse_err("x<"),
        "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    assert_eq!(
        parse_err("x>-1"),
        format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"-1\": {VALUE_REGEX_MSG}"
        )
    );
    assert_eq!(
        parse_err("x>99999999999999999999"),
        "unable to parse requirement: values[0]: Invalid value: \"99999999999999999999\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    assert_eq!(
        parse_err("x>1.5"),
        "unable to parse requirement: values[0]: Invalid value: \"1.5\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    assert_eq!(
        parse_err("x>+1"),
        format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"+1\": {VALUE_REGEX_MSG}"
        )
    );
    assert_eq!(
        parse_err("x>-a"),
        format!(
            "unable to parse requirement: [values[0]: Invalid value: \"-a\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][x]: Invalid value: \"-a\": {VALUE_REGEX_MSG}]"
        )
    );
}

#[test]
fn nul_bytes_behave_as_in_kube() {
    // A NUL at the start of a token ends the input; one right after a token is skipped.
    assert_eq!(parse("x=a \0 garbage ((").to_string(), "x=a");
    assert_eq!(parse("x\0").to_string(), "x");
    assert_eq!(parse("x,\0y").to_string(), "x,y");
    assert_eq!(
        parse_err("x, \0y"),
        "found '', expected: identifier after ','"
    );
    assert_eq!(
        parse_err("x\0y"),
        "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(parse("x=\0a").to_string(), "x=a");
}

#[test]
fn matches_labels() {
    let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5"), ("empty", "")]);
    let yes = [
        "",
        "app=web",
        "app==web",
        "app!=db",
        "missing!=x",
        "app in (web,db)",
        "app notin (db)",
        "missing notin (db)",
        "app",
        "!missing",
        "n>4",
        "n<6",
        "n>0",
        "empty=",
        "empty in ()",
        "empty",
        "app=web,tier=front",
        "app,tier in (front),!db,n>1",
    ];
    for s in yes {
        assert!(parse(s).matches(&l), "{s:?} should match");
    }
    let no = [
        "app=db",
        "app!=web",
        "app in (db)",
        "app notin (web)",
        "missing",
        "missing=",
        "missing in (x)",
        "!app",
        "n>5",
        "n<5",
        "app>1",
        "missing>1",
        "missing<1",
        "empty!=",
        "app=web,tier=back",
    ];
    for s in no {
        assert!(!parse(s).matches(&l), "{s:?} should not match");
    }
    assert!(parse("x").matches(&labels(&[("x", "")])));
    assert!(parse("!x").matches(&BTreeMap::new()));
    assert!(parse("").matches(&BTreeMap::new()));
}

#[test]
fn matches_objects_by_metadata_labels() {
    let pod = json!({"metadata": {"name": "p", "labels": {"app": "web", "odd": 3}}});
    assert!(parse("app=web").matches_object(&pod));
    assert!(!parse("app=db").matches_object(&pod));
    // A non-string label value is no label.
    assert!(parse("!odd").matches_object(&pod));
    let bare = json!({"metadata": {"name": "p"}});
    assert!(parse("").matches_object(&bare));
    assert!(parse("!app").matches_object(&bare));
    assert!(!parse("app").matches_object(&bare));
    assert!(parse("app notin (web)").matches_object(&json!(null)));
}

#[test]
fn builds_from_metav1_label_selector() {
    let sel = LabelSelector::from_json(&json!({
        "matchLabels": {"tier": "front", "app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "zone", "operator": "NotIn", "values": ["b", "a"]},
            {"key": "team", "operator": "Exists", "values": []},
        ]
    }))
    .unwrap();
    assert_eq!(
        sel.to_string(),
        "app=web,!canary,env in (dev,prod),team,tier=front,zone notin (a,b)"
    );
    assert!(sel.matches(&labels(&[
        ("app", "web"),
        ("tier", "front"),
        ("env", "dev"),
        ("team", "x"),
        ("zone", "c"),
    ])));
    assert!(!sel.matches(&labels(&[
        ("app", "web"),
        ("tier", "front"),
        ("env", "dev")
    ])));

    let scale = LabelSelector::from_json(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]
    }))
    .unwrap();
    assert_eq!(scale.to_string(), "app=web,tier in (a,b)");
    // The canonical string parses back to the same meaning.
    assert_eq!(parse(&scale.to_string()).to_string(), scale.to_string());

    for empty in [
        json!({}),
        json!({"matchLabels": {}}),
        json!({"matchLabels": null, "matchExpressions": []}),
        json!({"unrelated": 1}),
    ] {
        let sel = LabelSelector::from_json(&empty).unwrap();
        assert!(sel.is_empty(), "{empty}");
        assert_eq!(sel.to_string(), "");
        assert!(sel.matches(&BTreeMap::new()));
    }
}

#[test]
fn refuses_invalid_metav1_label_selectors() {
    let err = |v: serde_json::Value| match LabelSelector::from_json(&v) {
        Ok(sel) => panic!("{v} should be refused, got {sel}"),
        Err(SelectorError::InvalidLabelSelector(m)) => m,
        Err(other) => panic!("{v}: unexpected error kind {other:?}"),
    };
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]})),
        r#""Equals" is not a valid label selector operator"#
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "a"}]})),
        r#""" is not a valid label selector operator"#
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
        "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]})),
        "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        err(
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x", "y"]}]})
        ),
        r#"values: Invalid value: ["x","y"]: values set must be empty for exists and does not exist"#
    );
    assert_eq!(
        err(json!({"matchLabels": {"-a": "b"}})),
        format!("key: Invalid value: \"-a\": {NAME_REGEX_MSG}")
    );
    assert_eq!(
        err(json!({"matchLabels": {"a": "b c"}})),
        format!("values[0][a]: Invalid value: \"b c\": {VALUE_REGEX_MSG}")
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "", "operator": "Exists", "values": ["-"]}]})),
        format!(
            "[key: Invalid value: \"\": name part must be non-empty; {NAME_REGEX_MSG}, values: Invalid value: [\"-\"]: values set must be empty for exists and does not exist, values[0][]: Invalid value: \"-\": {VALUE_REGEX_MSG}]"
        )
    );
    // Shapes that Go would have refused while decoding.
    assert_eq!(err(json!(null)), "label selector must be a JSON object");
    assert_eq!(
        err(json!("app=web")),
        "label selector must be a JSON object"
    );
    assert_eq!(
        err(json!({"matchLabels": []})),
        "matchLabels must be an object"
    );
    assert_eq!(
        err(json!({"matchLabels": {"a": 1}})),
        "matchLabels values must be strings"
    );
    assert_eq!(
        err(json!({"matchExpressions": {}})),
        "matchExpressions must be an array"
    );
    assert_eq!(
        err(json!({"matchExpressions": [1]})),
        "matchExpressions entries must be objects"
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": 1, "operator": "Exists"}]})),
        "matchExpressions key must be a string"
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]})),
        "matchExpressions values must be strings"
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]})),
        "matchExpressions values must be an array"
    );
}

#[test]
fn from_json_keeps_values_as_given_but_prints_them_sorted() {
    let sel = LabelSelector::from_json(&json!({
        "matchExpressions": [{"key": "a", "operator": "In", "values": ["y", "x", "x"]}]
    }))
    .unwrap();
    assert_eq!(sel.requirements()[0].values(), ["y", "x", "x"]);
    assert_eq!(sel.to_string(), "a in (x,x,y)");
    assert!(sel.matches(&labels(&[("a", "x")])));
}

#[test]
fn requirements_with_the_same_key_keep_their_order() {
    let sel = parse("b=1,a=2,a!=3");
    assert_eq!(sel.to_string(), "a=2,a!=3,b=1");
    let sel = parse("a!=3,a=2");
    assert_eq!(sel.to_string(), "a!=3,a=2");
}

#[test]
fn from_str_is_parse() {
    let sel: LabelSelector = "app=web".parse().unwrap();
    assert_eq!(sel, parse("app=web"));
    assert!("app=".parse::<LabelSelector>().is_ok());
    assert!("=".parse::<LabelSelector>().is_err());
}

/// A tiny deterministic generator, so the test needs no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn odd_inputs_never_panic() {
    let odd = [
        "\0",
        "\0\0",
        "!",
        "!!",
        "(",
        ")",
        ",",
        "=",
        "==",
        "===",
        "!==",
        "<",
        ">",
        "<>",
        "in",
        "notin",
        "in in",
        "in in (",
        "x in ((",
        "x in ())",
        "x in (a))",
        "x=a)",
        "x=a(",
        "\\",
        "x=\\",
        "é=é",
        "日本=語",
        "x=\u{10ffff}",
        "\u{feff}x",
        "x\u{0}=a",
        "x in (\0",
        "x=\0",
        "!\0x",
        "x!\0=a",
        "\t\r\n",
        "x,",
        ",x",
        "x in (,,,,)",
        "x in (a,,,b,,)",
        "x>",
        "x<",
        "x>1>2",
        "x<<1",
        "a/b=c",
        "a//b",
        "/",
        "//",
        ".",
        "-",
        "_",
        "a.",
        "a-",
        ".a",
    ];
    for s in odd {
        if let Ok(sel) = LabelSelector::parse(s) {
            assert_eq!(parse(&sel.to_string()), sel, "{s:?}");
        }
    }
    let alphabet: Vec<char> = "ab1-_./=!(),<> \t\0inot\\é\u{200b}\"".chars().collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = (rng.next() % 16) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
            .collect();
        if let Ok(sel) = LabelSelector::parse(&s) {
            // What parses prints canonically, and the canonical form parses back.
            assert_eq!(parse(&sel.to_string()), sel, "{s:?}");
            let _ = sel.matches(&labels(&[("a", "1"), ("in", "b")]));
        }
    }
}
