//! A container's program and environment as kubelet computes them, no I/O: the Pod's
//! `command`/`args` merged with the image's `Entrypoint`/`Cmd`, `$(VAR)` references expanded,
//! the image's environment under the Pod's.

use std::collections::HashMap;

/// The program and its arguments: the Pod's `command` replaces the image's `Entrypoint` (and
/// drops its `Cmd`); the Pod's `args` replace the `Cmd`. `$(VAR)` in both is expanded from
/// `env`.
pub fn argv(
    command: Option<&[String]>,
    args: Option<&[String]>,
    entrypoint: &[String],
    cmd: &[String],
    env: &[(String, String)],
) -> Vec<String> {
    let lookup = lookup(env);
    let expand =
        |list: &[String]| -> Vec<String> { list.iter().map(|a| expand(a, &lookup)).collect() };
    let command = command.filter(|c| !c.is_empty());
    let args = args.filter(|a| !a.is_empty());
    match (command, args) {
        (Some(command), args) => {
            let mut out = expand(command);
            out.extend(expand(args.unwrap_or_default()));
            out
        }
        (None, Some(args)) => {
            let mut out = entrypoint.to_vec();
            out.extend(expand(args));
            out
        }
        (None, None) => {
            let mut out = entrypoint.to_vec();
            out.extend(cmd.iter().cloned());
            out
        }
    }
}

/// The final environment, `KEY=VALUE`: the image's, then the Pod's (a name the Pod sets
/// replaces the image's value in place; new names follow in the Pod's order).
pub fn merge_env(image: &[String], pod: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<(String, String)> = image
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    for (k, v) in pod {
        match out.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// The name → value map of `env` (later entries win).
pub fn lookup(env: &[(String, String)]) -> HashMap<&str, &str> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Expands `$(VAR)` references as Kubernetes does: a defined name becomes its value, an
/// undefined one stays as written, `$$` becomes `$` (so `$$(VAR)` stays `$(VAR)`).
pub fn expand(input: &str, vars: &HashMap<&str, &str>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                b'(' => {
                    if let Some(close) = input[i + 2..].find(')') {
                        let name = &input[i + 2..i + 2 + close];
                        match vars.get(name) {
                            Some(value) => out.push_str(value),
                            None => out.push_str(&input[i..i + 3 + close]),
                        }
                        i += 3 + close;
                        continue;
                    }
                }
                _ => {}
            }
        }
        let ch = input[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_and_args_merge_as_kubernetes_does() {
        let ep = s(&["/entry"]);
        let cmd = s(&["default"]);
        assert_eq!(argv(None, None, &ep, &cmd, &[]), s(&["/entry", "default"]));
        assert_eq!(
            argv(None, Some(&s(&["mine"])), &ep, &cmd, &[]),
            s(&["/entry", "mine"])
        );
        assert_eq!(
            argv(Some(&s(&["sh", "-c"])), None, &ep, &cmd, &[]),
            s(&["sh", "-c"])
        );
        assert_eq!(
            argv(
                Some(&s(&["echo"])),
                Some(&s(&["$(X)", "$$(X)", "$(Y)"])),
                &ep,
                &cmd,
                &[("X".into(), "1".into())]
            ),
            s(&["echo", "1", "$(X)", "$(Y)"])
        );
    }

    #[test]
    fn pod_env_overrides_the_image_in_place() {
        let merged = merge_env(
            &s(&["PATH=/bin", "A=image"]),
            &[("A".into(), "pod".into()), ("B".into(), "2".into())],
        );
        assert_eq!(merged, s(&["PATH=/bin", "A=pod", "B=2"]));
    }

    #[test]
    fn expansion_leaves_unclosed_and_unknown_references() {
        let vars = HashMap::from([("A", "x")]);
        assert_eq!(expand("$(A)-$(B)-$(A", &vars), "x-$(B)-$(A");
        assert_eq!(expand("é$", &vars), "é$");
    }
}
