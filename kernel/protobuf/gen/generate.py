#!/usr/bin/env python3
"""Generates kernel/protobuf/src/schema.rs, the field table kmicro decodes protobuf bodies with.

Two independent sources are read and must agree on every field:

- the `k8s-pb` crate's prost structs (crates.io): for each message, its fields' tag numbers,
  protobuf types, labels (optional, repeated, map) and message types;
- the Kubernetes API's Go type definitions (`types.go` of the `k8s.io/api` and
  `k8s.io/apimachinery` modules at the matching release): for each field, the JSON name and
  what Go's `encoding/json` does with it (pointer or value, `omitempty`, `,inline`, `-`), which
  the protobuf types cannot tell and which decide whether a field is written in JSON.

Only facts about fields are taken from the Go sources (names, tag numbers, pointer-ness, JSON
options); the table is written by this script. A field present in one source and not the
other, or whose tag or type differs, stops the script with the list of differences.

Usage:
    generate.py K8S_PB_SRC API_SRC APIMACHINERY_SRC > kernel/protobuf/src/schema.rs
where K8S_PB_SRC is the `src/` directory of the k8s-pb crate (e.g.
~/.cargo/registry/src/*/k8s-pb-0.9.0/src) and API_SRC / APIMACHINERY_SRC are checkouts of
kubernetes/api and kubernetes/apimachinery at the release tag (e.g. v0.35.7). Then run
`cargo fmt --all`.
"""

import os
import re
import sys

# The top-level kinds whose request bodies are decoded: (group, version, kind, k8s-pb module).
# Every built-in resource kmicro serves (kmicro_apimachinery::registry::BUILTIN, checked by a
# test), the scale subresource's Scale, and the RBAC, authorization and authentication kinds.
ROOTS = [
    ("", "v1", "Namespace", "api::core::v1"),
    ("", "v1", "Node", "api::core::v1"),
    ("", "v1", "Pod", "api::core::v1"),
    ("", "v1", "Service", "api::core::v1"),
    ("", "v1", "Endpoints", "api::core::v1"),
    ("", "v1", "ConfigMap", "api::core::v1"),
    ("", "v1", "Secret", "api::core::v1"),
    ("", "v1", "ServiceAccount", "api::core::v1"),
    ("", "v1", "Event", "api::core::v1"),
    ("", "v1", "PersistentVolume", "api::core::v1"),
    ("", "v1", "PersistentVolumeClaim", "api::core::v1"),
    ("", "v1", "ResourceQuota", "api::core::v1"),
    ("", "v1", "LimitRange", "api::core::v1"),
    ("apps", "v1", "Deployment", "api::apps::v1"),
    ("apps", "v1", "ReplicaSet", "api::apps::v1"),
    ("apps", "v1", "DaemonSet", "api::apps::v1"),
    ("apps", "v1", "StatefulSet", "api::apps::v1"),
    ("apps", "v1", "ControllerRevision", "api::apps::v1"),
    ("batch", "v1", "Job", "api::batch::v1"),
    ("batch", "v1", "CronJob", "api::batch::v1"),
    ("coordination.k8s.io", "v1", "Lease", "api::coordination::v1"),
    ("discovery.k8s.io", "v1", "EndpointSlice", "api::discovery::v1"),
    ("events.k8s.io", "v1", "Event", "api::events::v1"),
    ("networking.k8s.io", "v1", "Ingress", "api::networking::v1"),
    ("networking.k8s.io", "v1", "IngressClass", "api::networking::v1"),
    ("networking.k8s.io", "v1", "NetworkPolicy", "api::networking::v1"),
    ("policy", "v1", "PodDisruptionBudget", "api::policy::v1"),
    ("storage.k8s.io", "v1", "StorageClass", "api::storage::v1"),
    ("scheduling.k8s.io", "v1", "PriorityClass", "api::scheduling::v1"),
    ("autoscaling", "v1", "Scale", "api::autoscaling::v1"),
    ("rbac.authorization.k8s.io", "v1", "Role", "api::rbac::v1"),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "api::rbac::v1"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "api::rbac::v1"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "api::rbac::v1"),
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "api::authorization::v1"),
    ("authorization.k8s.io", "v1", "SubjectAccessReview", "api::authorization::v1"),
    ("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "api::authorization::v1"),
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "api::authorization::v1"),
    ("authentication.k8s.io", "v1", "TokenRequest", "api::authentication::v1"),
    ("authentication.k8s.io", "v1", "TokenReview", "api::authentication::v1"),
    ("authentication.k8s.io", "v1", "SelfSubjectReview", "api::authentication::v1"),
]

META = "apimachinery::pkg::apis::meta::v1"

# Messages whose JSON form is not an object of their fields (their Go types have their own
# JSON marshalling): decoded by hand-written code, named by the table's `Shape`.
SPECIAL = {
    (META, "Time"): "Time",
    (META, "MicroTime"): "MicroTime",
    (META, "Duration"): "Duration",
    (META, "FieldsV1"): "RawJson",
    ("apimachinery::pkg::runtime", "RawExtension"): "RawJson",
    ("apimachinery::pkg::util::intstr", "IntOrString"): "IntOrString",
    ("apimachinery::pkg::api::resource", "Quantity"): "Quantity",
}

SCALARS = {"string": "String", "bytes": "Bytes", "int32": "Int32", "int64": "Int64",
           "bool": "Bool", "double": "Double"}


# ---------------------------------------------------------------------------------------------
# k8s-pb: prost structs


def read_prost(src):
    """{(module, struct): [(tag, rust_name, proto_type, label, (module, struct) | None)]}"""
    messages = {}
    for root, _dirs, files in os.walk(src):
        if "mod.rs" not in files:
            continue
        rel = os.path.relpath(root, src)
        module = "::".join(rel.split(os.sep)) if rel != "." else ""
        with open(os.path.join(root, "mod.rs")) as f:
            text = f.read()
        for m in re.finditer(r"^pub struct (\w+) \{\n(.*?)^\}", text, re.S | re.M):
            name, body = m.group(1), m.group(2)
            fields = []
            # An attribute, then `pub name: Type,` possibly wrapped over several lines.
            for fm in re.finditer(r"#\[prost\((.*?)\)\]\s*pub (r#)?(\w+):\s*(.*?),\n(?=\s*(#|///|$))",
                                  body, re.S):
                attr, rust_name = fm.group(1), fm.group(3)
                ty = re.sub(r"\s+", "", fm.group(4)).replace(",>", ">")
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                kind = attr.split(",")[0].strip()
                target = None
                if kind.startswith("btree_map"):
                    key, value = re.search(r'btree_map = "(\w+), (\w+)"', attr).groups()
                    if key != "string":
                        sys.exit(f"{module}::{name}.{rust_name}: map key {key}")
                    label, ptype = "map", value
                else:
                    ptype = kind.split(" ")[0]
                    label = "repeated" if ", repeated" in attr else "optional"
                if ptype == "message":
                    target = resolve(module, innermost(ty))
                elif ptype not in SCALARS:
                    sys.exit(f"{module}::{name}.{rust_name}: protobuf type {ptype}")
                fields.append((tag, rust_name, ptype, label, target))
            declared = len(re.findall(r"#\[prost\(", body))
            if declared != len(fields):
                sys.exit(f"{module}::{name}: parsed {len(fields)} of {declared} fields")
            messages[(module, name)] = fields
    return messages


def innermost(ty):
    """The message path inside Option<…>, Vec<…>, Box<…> or a map's value."""
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<",
                    "::prost::alloc::boxed::Box<"):
        if ty.startswith(wrapper):
            return innermost(ty[len(wrapper):-1])
    prefix = "::prost::alloc::collections::BTreeMap<::prost::alloc::string::String,"
    if ty.startswith(prefix):
        return innermost(ty[len(prefix):-1])
    return ty


def resolve(module, path):
    parts = module.split("::")
    segs = path.split("::")
    while segs[0] == "super":
        parts.pop()
        segs.pop(0)
    return ("::".join(parts + segs[:-1]), segs[-1])


# ---------------------------------------------------------------------------------------------
# Go type definitions


def go_dir(module, api_src, machinery_src):
    parts = module.split("::")
    if parts[0] == "api":
        return os.path.join(api_src, *parts[1:])
    if parts[0] == "apimachinery":
        return os.path.join(machinery_src, *parts[1:])
    sys.exit(f"no Go package for {module}")


GO_CACHE = {}


def read_go(directory):
    """({struct: [(go_type, json_tag, protobuf_tag)]}, {named type: underlying})"""
    if directory in GO_CACHE:
        return GO_CACHE[directory]
    structs, named = {}, {}
    for name in sorted(os.listdir(directory)):
        if (not name.endswith(".go") or name.endswith("_test.go") or name.startswith("zz_")
                or name.startswith("generated") or "swagger" in name):
            continue
        with open(os.path.join(directory, name)) as f:
            lines = f.read().split("\n")
        i = 0
        while i < len(lines):
            line = lines[i]
            m = re.match(r"^type (\w+) struct \{\s*$", line)
            if m:
                fields = []
                i += 1
                while lines[i] != "}":
                    fl = lines[i].strip()
                    fm = re.match(r"^(?:(\w+)\s+)?([^\s`/]+)\s+`([^`]*)`", fl)
                    if fm and not fl.startswith("//"):
                        tags = fm.group(3)
                        j = re.search(r'json:"([^"]*)"', tags)
                        p = re.search(r'protobuf:"([^"]*)"', tags)
                        fields.append((fm.group(2), j.group(1) if j else None,
                                       p.group(1) if p else None))
                    i += 1
                structs[m.group(1)] = fields
            else:
                m = re.match(r"^type (\w+) (\S+)\s*(//.*)?$", line)
                if m and m.group(2) not in ("struct", "interface", "="):
                    named[m.group(1)] = m.group(2)
            i += 1
    GO_CACHE[directory] = (structs, named)
    return structs, named


# ---------------------------------------------------------------------------------------------
# Joining the two


def variant(module, name):
    """The Rust enum variant naming a message: CoreV1Pod, MetaV1ObjectMeta, …"""
    parts = module.split("::")
    if parts[0] == "api":
        prefix = parts[1:]
    elif module == META:
        prefix = ["meta", "v1"]
    elif parts[0] == "apimachinery":
        prefix = parts[-1:]
    else:
        sys.exit(f"no variant prefix for {module}")
    return "".join(p[:1].upper() + p[1:] for p in prefix) + name


def proto_name(module, name):
    return "k8s.io." + ".".join(module.split("::")) + "." + name


def build(prost, api_src, machinery_src):
    order, seen, problems = [], set(), []
    table = {}
    names = {}  # k8s-pb's Rust struct name → the Go (and protobuf) type name, where they differ

    def visit(key):
        if key in seen:
            return
        seen.add(key)
        if key not in prost:
            sys.exit(f"k8s-pb has no message {key}")
        structs, named = read_go(go_dir(key[0], api_src, machinery_src))
        if key in SPECIAL:
            table[key] = ("special", SPECIAL[key])
            order.append(key)
            return
        if named.get(key[1]) == "[]string":
            # A named []string (authentication's and authorization's ExtraValue): the message
            # wraps the list in `items`, JSON writes the list itself.
            if [(t, p, l) for t, _, p, l, _ in prost[key]] != [(1, "string", "repeated")]:
                sys.exit(f"{key}: a []string type whose message is not `repeated string items = 1`")
            table[key] = ("special", "StringList")
            order.append(key)
            return
        go_name = {n.lower(): n for n in structs}.get(key[1].lower())
        if go_name is None:
            sys.exit(f"no Go struct {key}")
        names[key] = go_name
        go_fields = {}
        for go_type, json_tag, pb_tag in structs[go_name]:
            if pb_tag is None or pb_tag == "-":
                if json_tag not in (None, "-", ",inline") and not go_type.startswith("metav1.TypeMeta"):
                    problems.append(f"{key}: Go field {go_type} json:{json_tag!r} has no protobuf tag")
                continue
            num = int(pb_tag.split(",")[1])
            go_fields[num] = (go_type, json_tag, pb_tag)
        fields = []
        for tag, rust_name, ptype, label, target in prost[key]:
            if tag not in go_fields:
                problems.append(f"{key}.{rust_name} (tag {tag}): not in the Go type")
                continue
            go_type, json_tag, pb_tag = go_fields.pop(tag)
            pointer = go_type.startswith("*")
            opts = (json_tag or "").split(",")
            json_name, omitempty, inline = opts[0], "omitempty" in opts[1:], "inline" in opts[1:]
            if json_tag == "-":
                card = "Hidden"
            elif inline:
                if ptype != "message" or label != "optional" or pointer:
                    problems.append(f"{key}.{rust_name}: inline field that is not a struct value")
                card = "Inline"
            elif label == "repeated":
                card = "Repeated"
            elif label == "map":
                card = "Map"
            elif pointer:
                card = "Optional"
            elif ptype == "message":
                card = "Always"  # a Go struct value is always written, omitempty or not
            elif omitempty:
                card = "OmitEmpty"
            else:
                card = "Always"
            if card not in ("Inline", "Hidden") and not json_name:
                problems.append(f"{key}.{rust_name}: no JSON name")
            check_type(f"{key}.{rust_name}", ptype, label, go_type, named, problems)
            fields.append((tag, json_name, ptype, card, target))
            if target is not None:
                visit(target)
        for tag, (go_type, json_tag, _) in go_fields.items():
            problems.append(f"{key}: Go field {go_type} json:{json_tag!r} (tag {tag}) not in k8s-pb")
        table[key] = ("struct", sorted(fields))
        order.append(key)

    for _g, _v, kind, module in ROOTS:
        visit((module, kind))
    if problems:
        sys.exit("sources disagree:\n  " + "\n  ".join(problems))
    return order, table, names


def check_type(where, ptype, label, go_type, named, problems):
    """The Go type's shape must match the protobuf field's. (The wire types and labels written
    in Go's `protobuf:` struct tags are not reliable — some are hand-written and stale — so only
    the Go type itself is compared.)"""
    t = go_type.lstrip("*")
    while t in named:  # a named type of this package: its underlying type
        t = named[t].lstrip("*")
    if t == "[]byte":
        shape, base = "bytes", "bytes"
    elif t.startswith("[]"):
        shape, base = "repeated", t[2:].lstrip("*")
    elif t.startswith("map["):
        shape, base = "map", None
    else:
        shape, base = "single", t
    while base in named:
        base = named[base]
    expected = {"repeated": "repeated", "map": "map"}.get(label, "bytes" if ptype == "bytes" else "single")
    if label == "repeated" and ptype == "bytes":
        expected = "repeated"
    if shape != expected:
        problems.append(f"{where}: Go type {go_type} ({shape}), protobuf {label} {ptype}")
        return
    scalar = {"string": "string", "bool": "bool", "int32": "int32", "int64": "int64",
              "float64": "double", "bytes": "bytes"}.get(base)
    if ptype in SCALARS and scalar is not None and scalar != ptype:
        problems.append(f"{where}: Go type {go_type}, protobuf {ptype}")
    if ptype == "message" and scalar is not None:
        problems.append(f"{where}: Go type {go_type}, protobuf message")


# ---------------------------------------------------------------------------------------------
# Output


def rust_ty(ptype, target, names):
    if ptype == "message":
        return f"Ty::Message(Msg::{variant(target[0], names.get(target, target[1]))})"
    return f"Ty::{SCALARS[ptype]}"


def emit(order, table, names, versions):
    def go(key):
        return (key[0], names.get(key, key[1]))

    out = []
    w = out.append
    w("// @generated by kernel/protobuf/gen/generate.py — do not edit by hand.")
    w(f"// Sources: {versions}.")
    w("")
    w("//! The protobuf field table: for every message reachable from a decoded kind, each field's")
    w("//! tag, JSON name, type and how Go's `encoding/json` writes it (see [`Card`]).")
    w("")
    w("use crate::table::{Card, Field, Kind, Shape, Ty};")
    w("")
    w("/// Every message in [`MESSAGES`], in its order.")
    w("#[derive(Clone, Copy, Debug, PartialEq, Eq)]")
    w("pub(crate) enum Msg {")
    for key in order:
        w(f"    /// `{proto_name(*go(key))}`")
        w(f"    {variant(*go(key))},")
    w("}")
    w("")
    w("/// How each message becomes JSON, indexed by [`Msg`].")
    w(f"pub(crate) static MESSAGES: [Shape; {len(order)}] = [")
    for key in order:
        kind, data = table[key]
        w(f"    // {proto_name(*go(key))}")
        if kind == "special":
            w(f"    Shape::{data},")
            continue
        w("    Shape::Struct(&[")
        for tag, json_name, ptype, card, target in data:
            if card == "Map":
                w(f'        Field::new({tag}, "{json_name}", {rust_ty(ptype, target, names)}, Card::Map),')
            else:
                w(f'        Field::new({tag}, "{json_name}", {rust_ty(ptype, target, names)}, Card::{card}),')
        w("    ]),")
    w("];")
    w("")
    w("/// The decodable kinds: group, version, kind, message.")
    w("pub(crate) static KINDS: &[Kind] = &[")
    for group, version, kind, module in ROOTS:
        w(f'    Kind {{ group: "{group}", version: "{version}", kind: "{kind}", msg: Msg::{variant(*go((module, kind)))} }},')
    w("];")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    prost_src, api_src, machinery_src = sys.argv[1:]
    prost = read_prost(prost_src)
    order, table, names = build(prost, api_src, machinery_src)
    versions = os.environ.get("KMICRO_PROTO_SOURCES", "see kernel/protobuf/gen/README.md")
    sys.stdout.write(emit(order, table, names, versions))
    fields = sum(len(d) for k, d in table.values() if k == "struct")
    print(f"{len(order)} messages, {fields} fields", file=sys.stderr)


if __name__ == "__main__":
    main()
