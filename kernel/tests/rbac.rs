//! RBAC, service-account tokens, impersonation and access reviews against `kmicro run`, with
//! real kubectl (1.32 and 1.35) and the `kube` crate.
//!
//! kubectl sends the bodies of `create token`, `auth can-i` and `auth whoami` as protobuf;
//! `kubectl_auth_commands` runs those commands themselves, the other tests also reach the same
//! endpoints with JSON (`kubectl create --raw`, the `kube` crate).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Cluster, output_text};
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec, SubjectAccessReview,
    SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

/// kubectl 1.32 (the machine's dispatcher runs its built-in 1.32 against a 1.35 server).
const KUBECTL_132: &str = "kubectl";
/// kubectl 1.35.
const KUBECTL_135: &str = "/opt/kmicro-test-tools/v35/kubectl/kubectl";

/// A service account `builder` that may read pods (and their logs) in `default`, nothing else.
const BUILDER: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: default}
rules:
- apiGroups: [""]
  resources: ["pods", "pods/log"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: builder-reads-pods, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- kind: ServiceAccount
  name: builder
"#;

/// Runs `bin` against the cluster as the holder of `token` (no kubeconfig).
fn kubectl_with_token(bin: &str, c: &Cluster, token: &str, args: &[&str]) -> Output {
    let cache = c.data_dir.with_extension(format!("cache-{}", bin.len()));
    Command::new(bin)
        .args([
            "--kubeconfig=/dev/null",
            &format!("--server={}", c.url()),
            "--insecure-skip-tls-verify",
            &format!("--token={token}"),
            &format!("--cache-dir={}", cache.display()),
        ])
        .args(args)
        .env("KUBECONFIG", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl")
}

/// Runs `bin` with the admin kubeconfig.
fn kubectl_admin(bin: &str, c: &Cluster, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .arg(format!("--kubeconfig={}", c.kubeconfig.display()))
        .arg(format!(
            "--cache-dir={}",
            c.data_dir.with_extension("admincache").display()
        ))
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl")
}

/// A token for `sa` in `default` from the TokenRequest API, sent as JSON.
fn token(c: &Cluster, sa: &str, request: &str) -> String {
    let out = c.ok_stdin(
        &[
            "create",
            "--raw",
            &format!("/api/v1/namespaces/default/serviceaccounts/{sa}/token"),
            "-f",
            "-",
        ],
        request,
    );
    let answer: Value = serde_json::from_str(&out).expect("a TokenRequest");
    assert_eq!(answer["kind"], "TokenRequest", "{answer}");
    answer["status"]["token"].as_str().unwrap().to_string()
}

/// Retries `check` for up to 20 s (the authorizer and controllers follow the store's watch;
/// authenticated tokens are cached for 10 s).
fn eventually(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match check() {
            Ok(()) => return,
            Err(why) if Instant::now() > deadline => panic!("{what}: {why}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

async fn admin_client(c: &Cluster) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(&c.kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    kube::Client::try_from(config).expect("client")
}

async fn token_client(c: &Cluster, token: &str) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(&c.kubeconfig).expect("read kubeconfig");
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig");
    config.auth_info = kube::config::AuthInfo {
        token: Some(token.to_string().into()),
        ..Default::default()
    };
    kube::Client::try_from(config).expect("client")
}

#[test]
fn a_service_account_token_can_do_what_its_binding_allows_and_nothing_else() {
    let c = Cluster::start();
    c.ok_stdin(&["apply", "-f", "-"], BUILDER);
    let token = token(&c, "builder", r#"{"spec": {"expirationSeconds": 1200}}"#);

    for bin in [KUBECTL_132, KUBECTL_135] {
        eventually("the binding takes effect", || {
            let out = kubectl_with_token(bin, &c, &token, &["get", "pods"]);
            out.status
                .success()
                .then_some(())
                .ok_or_else(|| output_text(&out))
        });
        let out = kubectl_with_token(bin, &c, &token, &["get", "configmaps"]);
        assert!(!out.status.success());
        assert!(
            output_text(&out).contains(
                "Error from server (Forbidden): configmaps is forbidden: User \"system:serviceaccount:default:builder\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""
            ),
            "{bin}: {}",
            output_text(&out)
        );
        let out = kubectl_with_token(bin, &c, &token, &["get", "pods", "-n", "kube-system"]);
        assert!(
            output_text(&out).contains("in the namespace \"kube-system\""),
            "{bin}: {}",
            output_text(&out)
        );
        let out = kubectl_with_token(bin, &c, &token, &["get", "nodes"]);
        assert!(
            output_text(&out).contains(
                "nodes is forbidden: User \"system:serviceaccount:default:builder\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
            ),
            "{bin}: {}",
            output_text(&out)
        );
        // Discovery is open to every authenticated user (system:discovery).
        let out = kubectl_with_token(bin, &c, &token, &["api-resources", "-o", "name"]);
        assert!(out.status.success(), "{bin}: {}", output_text(&out));
        assert!(output_text(&out).contains("clusterrolebindings.rbac.authorization.k8s.io"));
        let out = kubectl_with_token(bin, &c, &token, &["get", "--raw", "/version"]);
        assert!(out.status.success(), "{bin}: {}", output_text(&out));
        // Impersonation needs its own permission.
        let out = kubectl_with_token(bin, &c, &token, &["get", "pods", "--as=bob"]);
        assert!(
            output_text(&out).contains(
                "users \"bob\" is forbidden: User \"system:serviceaccount:default:builder\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
            ),
            "{bin}: {}",
            output_text(&out)
        );
    }

    // A garbage token is 401; so is one whose service account is gone, once the server's
    // 10-second cache of authenticated tokens has let go of it.
    let out = kubectl_with_token(KUBECTL_135, &c, "not-a-token", &["get", "pods"]);
    assert!(
        output_text(&out).contains("Unauthorized"),
        "{}",
        output_text(&out)
    );
    c.ok(&["delete", "serviceaccount", "builder"]);
    eventually("the token of a deleted account stops working", || {
        let out = kubectl_with_token(KUBECTL_135, &c, &token, &["get", "pods"]);
        output_text(&out)
            .contains("Unauthorized")
            .then_some(())
            .ok_or_else(|| output_text(&out))
    });
}

#[test]
fn admin_does_everything_and_a_user_without_bindings_only_discovery() {
    let c = Cluster::start();
    for bin in [KUBECTL_132, KUBECTL_135] {
        let out = kubectl_admin(bin, &c, &["get", "clusterrolebindings", "-o", "wide"]);
        let table = output_text(&out);
        assert!(out.status.success(), "{table}");
        let admin = table
            .lines()
            .find(|l| l.starts_with("cluster-admin "))
            .unwrap_or_else(|| panic!("{table}"));
        assert!(
            admin.contains("ClusterRole/cluster-admin") && admin.contains("system:masters"),
            "{table}"
        );
        for header in ["ROLE", "USERS", "GROUPS", "SERVICEACCOUNTS"] {
            assert!(table.contains(header), "{table}");
        }
        let out = kubectl_admin(bin, &c, &["get", "clusterroles"]);
        for role in ["cluster-admin", "admin", "edit", "view", "system:discovery"] {
            assert!(
                output_text(&out)
                    .lines()
                    .any(|l| l.starts_with(&format!("{role} "))),
                "{role}: {}",
                output_text(&out)
            );
        }
        let out = kubectl_admin(bin, &c, &["get", "sa", "-A"]);
        assert_eq!(
            output_text(&out)
                .lines()
                .filter(|l| l.contains(" default "))
                .count(),
            4,
            "a default service account in each default namespace: {}",
            output_text(&out)
        );

        // A user with no bindings (impersonated by the admin): 403 on resources, discovery ok.
        let out = kubectl_admin(bin, &c, &["get", "pods", "--as=nobody"]);
        assert!(
            output_text(&out).contains(
                "pods is forbidden: User \"nobody\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
            ),
            "{}",
            output_text(&out)
        );
        let out = kubectl_admin(bin, &c, &["api-resources", "--as=nobody", "-o", "name"]);
        assert!(out.status.success(), "{}", output_text(&out));
        let out = kubectl_admin(bin, &c, &["get", "--raw", "/apis", "--as=nobody"]);
        assert!(out.status.success(), "{}", output_text(&out));
        // Group membership by impersonation: view in the whole cluster.
        let out = kubectl_admin(
            bin,
            &c,
            &[
                "get",
                "clusterrolebindings",
                "--as=nobody",
                "--as-group=system:masters",
            ],
        );
        assert!(out.status.success(), "{}", output_text(&out));
    }
}

#[test]
fn roles_and_bindings_are_validated_like_kube() {
    let c = Cluster::start();
    c.ok_stdin(&["apply", "-f", "-"], BUILDER);
    let err = c.fails(
        &[
            "patch",
            "rolebinding",
            "builder-reads-pods",
            "--type=merge",
            "-p",
            r#"{"roleRef":{"name":"other"}}"#,
        ],
        None,
    );
    assert!(
        err.contains(
            "The RoleBinding \"builder-reads-pods\" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"Role\", Name:\"other\"}: cannot change roleRef"
        ),
        "{err}"
    );
    let bad = r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "bad"}, "rules": [{"verbs": [], "apiGroups": [""], "resources": ["pods"]}]}"#;
    let err = c.fails(&["create", "-f", "-"], Some(bad));
    assert!(
        err.contains("rules[0].verbs: Required value: verbs must contain at least one value"),
        "{err}"
    );
    let table = c.ok(&["get", "rolebindings", "-o", "wide"]);
    let row = table
        .lines()
        .find(|l| l.starts_with("builder-reads-pods"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("Role/pod-reader") && row.contains("builder"),
        "{table}"
    );
}

#[test]
fn aggregated_roles_pick_up_and_drop_labelled_cluster_roles() {
    let c = Cluster::start();
    let widgets = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-view
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
- apiGroups: ["example.com"]
  resources: ["widgets"]
  verbs: ["get", "list"]
"#;
    c.ok_stdin(&["apply", "-f", "-"], widgets);
    let has_widgets = |role: &str| {
        c.ok(&["get", "clusterrole", role, "-o", "json"])
            .contains("\"widgets\"")
    };
    // view selects it; edit selects view, and admin edit.
    for role in ["view", "edit", "admin"] {
        eventually(&format!("{role} aggregates widgets-view"), || {
            has_widgets(role).then_some(()).ok_or_default()
        });
    }
    assert!(!has_widgets("cluster-admin"));
    c.ok(&["delete", "clusterrole", "widgets-view"]);
    for role in ["view", "edit", "admin"] {
        eventually(&format!("{role} drops widgets-view"), || {
            (!has_widgets(role)).then_some(()).ok_or_default()
        });
    }
    // The aggregated rules authorize: view in a namespace lets a user list pods there.
    let binding = r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "alice-views", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "alice"}]}"#;
    c.ok_stdin(&["create", "-f", "-"], binding);
    eventually("alice may list pods", || {
        let out = c.kubectl(&["get", "pods", "--as=alice"]);
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| output_text(&out))
    });
    let err = c.fails(&["get", "secrets", "--as=alice"], None);
    assert!(err.contains("secrets is forbidden"), "{err}");
}

/// `Option<()>` to a `Result` with an empty error, for [`eventually`].
trait OkOrDefault {
    fn ok_or_default(self) -> Result<(), String>;
}

impl OkOrDefault for Option<()> {
    fn ok_or_default(self) -> Result<(), String> {
        self.ok_or_else(String::new)
    }
}

#[test]
fn new_namespaces_get_a_default_service_account() {
    let c = Cluster::start();
    let ns = r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}"#;
    c.ok_stdin(&["create", "-f", "-"], ns);
    eventually("team has a default service account", || {
        let out = c.kubectl(&["get", "sa", "default", "-n", "team"]);
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| output_text(&out))
    });
    // Deleted, it comes back.
    c.ok(&["delete", "sa", "default", "-n", "team"]);
    eventually("the default service account is recreated", || {
        let out = c.kubectl(&["get", "sa", "default", "-n", "team"]);
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| output_text(&out))
    });
}

#[test]
fn tokens_bound_to_a_pod_end_with_the_pod_and_tokens_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = common::free_port();
    let mut c = Cluster::start_in(&data, port);
    c.ok_stdin(&["apply", "-f", "-"], BUILDER);
    let pod = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "job"},
        "spec": {"serviceAccountName": "builder", "containers": [{"name": "c", "image": "busybox"}]}}"#;
    c.ok_stdin(&["create", "-f", "-"], pod);
    let bound = token(
        &c,
        "builder",
        r#"{"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "job"}}}"#,
    );
    // A client's status is ignored (kubectl's protobuf bodies carry an empty one).
    let plain = token(&c, "builder", r#"{"status": {}}"#);
    eventually("the bound token works", || {
        let out = kubectl_with_token(KUBECTL_135, &c, &bound, &["get", "pods"]);
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| output_text(&out))
    });
    // A pod of another service account cannot be bound.
    let err = c.fails(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/serviceaccounts/default/token",
            "-f",
            "-",
        ],
        Some(r#"{"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "job"}}}"#),
    );
    assert!(
        err.contains("to pod running with different serviceaccount name"),
        "{err}"
    );
    // Too short a lifetime is kube's 422.
    let err = c.fails(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/serviceaccounts/builder/token",
            "-f",
            "-",
        ],
        Some(r#"{"spec": {"expirationSeconds": 60}}"#),
    );
    assert!(
        err.contains("may not specify a duration less than 10 minutes"),
        "{err}"
    );

    c.ok(&["delete", "pod", "job", "--grace-period=0", "--force"]);
    eventually("the bound token ends with its pod", || {
        let out = kubectl_with_token(KUBECTL_135, &c, &bound, &["get", "pods"]);
        output_text(&out)
            .contains("Unauthorized")
            .then_some(())
            .ok_or_else(|| output_text(&out))
    });

    // The signing key and the policy persist; a default role a user trimmed is restored at
    // start, one marked autoupdate=false is left alone.
    c.ok(&[
        "patch",
        "clusterrole",
        "system:basic-user",
        "--type=merge",
        "-p",
        r#"{"rules":[]}"#,
    ]);
    c.ok(&[
        "patch",
        "clusterrole",
        "system:monitoring",
        "--type=merge",
        "-p",
        r#"{"metadata":{"annotations":{"rbac.authorization.kubernetes.io/autoupdate":"false"}},"rules":[]}"#,
    ]);
    c.kill9();
    let c = Cluster::start_in(&data, port);
    let out = kubectl_with_token(KUBECTL_135, &c, &plain, &["get", "pods"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let basic = c.ok(&["get", "clusterrole", "system:basic-user", "-o", "json"]);
    assert!(basic.contains("selfsubjectaccessreviews"), "{basic}");
    let monitoring = c.ok(&["get", "clusterrole", "system:monitoring", "-o", "json"]);
    assert!(!monitoring.contains("/metrics"), "{monitoring}");
    assert!(Path::new(&data.join("server/tls/service-account.key")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_reviews_whoami_and_token_reviews_through_the_kube_crate() {
    let c = Cluster::start();
    c.ok_stdin(&["apply", "-f", "-"], BUILDER);
    let token = token(&c, "builder", "{}");
    let admin = admin_client(&c).await;
    let builder = token_client(&c, &token).await;
    let pp = PostParams::default();

    let ssar = |verb: &str, resource: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some("default".into()),
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(builder.clone());
    let mut allowed = false;
    for _ in 0..100 {
        let answer = reviews.create(&pp, &ssar("list", "pods")).await.unwrap();
        allowed = answer.status.unwrap().allowed;
        if allowed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(allowed, "builder may list pods");
    let answer = reviews.create(&pp, &ssar("delete", "pods")).await.unwrap();
    assert!(!answer.status.unwrap().allowed);

    // The admin asks about the service account (what `kubectl auth can-i --as` decides).
    let sar = |verb: &str| SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some("system:serviceaccount:default:builder".into()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                "system:serviceaccounts:default".into(),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some("default".into()),
                verb: Some(verb.into()),
                resource: Some("pods".into()),
                subresource: Some("log".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let sars: Api<SubjectAccessReview> = Api::all(admin.clone());
    let yes = sars.create(&pp, &sar("get")).await.unwrap().status.unwrap();
    assert!(yes.allowed);
    assert_eq!(
        yes.reason.as_deref(),
        Some(
            "RBAC: allowed by RoleBinding \"builder-reads-pods/default\" of Role \"pod-reader\" to ServiceAccount \"builder/default\""
        )
    );
    assert!(
        !sars
            .create(&pp, &sar("create"))
            .await
            .unwrap()
            .status
            .unwrap()
            .allowed
    );
    // Only those with system:auth-delegator (or more) may ask about others.
    let denied = Api::<SubjectAccessReview>::all(builder.clone())
        .create(&pp, &sar("get"))
        .await
        .unwrap_err();
    assert!(
        matches!(&denied, kube::Error::Api(s) if s.code == 403),
        "{denied:?}"
    );

    // `kubectl auth can-i --list`.
    let rules: Api<SelfSubjectRulesReview> = Api::all(builder.clone());
    let status = rules
        .create(
            &pp,
            &SelfSubjectRulesReview {
                spec: SelfSubjectRulesReviewSpec {
                    namespace: Some("default".into()),
                },
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(
        status.resource_rules.iter().any(|r| r
            .resources
            .as_deref()
            .is_some_and(|res| res.contains(&"pods/log".to_string()))),
        "{status:?}"
    );
    assert!(
        status.non_resource_rules.iter().any(|r| r
            .non_resource_urls
            .as_deref()
            .is_some_and(|u| u.contains(&"/api/*".to_string()))),
        "{status:?}"
    );

    // `kubectl auth whoami`.
    let whoami: Api<SelfSubjectReview> = Api::all(builder.clone());
    let me = whoami
        .create(&pp, &SelfSubjectReview::default())
        .await
        .unwrap()
        .status
        .unwrap()
        .user_info
        .unwrap();
    assert_eq!(
        me.username.as_deref(),
        Some("system:serviceaccount:default:builder")
    );
    assert_eq!(
        me.groups.unwrap(),
        [
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ]
    );
    assert!(me.uid.is_some());
    let admin_me = Api::<SelfSubjectReview>::all(admin.clone())
        .create(&pp, &SelfSubjectReview::default())
        .await
        .unwrap()
        .status
        .unwrap()
        .user_info
        .unwrap();
    assert_eq!(admin_me.username.as_deref(), Some("system:admin"));

    // TokenReview.
    let reviews: Api<TokenReview> = Api::all(admin.clone());
    let review = |token: &str| TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let good = reviews
        .create(&pp, &review(&token))
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(good.authenticated, Some(true));
    assert_eq!(
        good.user.unwrap().username.as_deref(),
        Some("system:serviceaccount:default:builder")
    );
    let bad = reviews
        .create(&pp, &review("nope"))
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(bad.authenticated, Some(false));
}

#[test]
fn discovery_lists_reviews_as_create_only() {
    let c = Cluster::start();
    let list = c.ok(&["get", "--raw", "/apis/authorization.k8s.io/v1"]);
    let list: Value = serde_json::from_str(&list).unwrap();
    for r in list["resources"].as_array().unwrap() {
        assert_eq!(r["verbs"], serde_json::json!(["create"]), "{r}");
    }
    let core = c.ok(&["get", "--raw", "/api/v1"]);
    let core: Value = serde_json::from_str(&core).unwrap();
    let token = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "serviceaccounts/token")
        .expect("serviceaccounts/token is discoverable");
    assert_eq!(token["kind"], "TokenRequest");
    assert_eq!(token["verbs"], serde_json::json!(["create"]));
    let err = c.fails(
        &[
            "get",
            "--raw",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        ],
        None,
    );
    assert!(
        err.contains("MethodNotAllowed") || err.contains("not allow"),
        "{err}"
    );
}

/// kubectl's own `create token`, `auth can-i` and `auth whoami`, whose bodies are protobuf.
#[test]
fn kubectl_auth_commands() {
    let c = Cluster::start();
    c.ok_stdin(&["apply", "-f", "-"], BUILDER);
    for bin in [KUBECTL_132, KUBECTL_135] {
        let out = kubectl_admin(bin, &c, &["create", "token", "builder", "--duration=20m"]);
        assert!(out.status.success(), "{}", output_text(&out));
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let out = kubectl_with_token(bin, &c, &token, &["auth", "whoami"]);
        assert!(
            output_text(&out).contains("system:serviceaccount:default:builder"),
            "{}",
            output_text(&out)
        );
        let can = |args: &[&str]| {
            let mut all = vec!["auth", "can-i"];
            all.extend_from_slice(args);
            all.push("--as=system:serviceaccount:default:builder");
            String::from_utf8_lossy(&kubectl_admin(bin, &c, &all).stdout)
                .trim()
                .to_string()
        };
        assert_eq!(can(&["get", "pods"]), "yes");
        assert_eq!(can(&["get", "pods/log"]), "yes");
        assert_eq!(can(&["delete", "pods"]), "no");
        assert_eq!(can(&["get", "pods", "-n", "kube-system"]), "no");
        let list = kubectl_admin(bin, &c, &["auth", "can-i", "--list"]);
        assert!(output_text(&list).contains("*.*"), "{}", output_text(&list));
    }
}

#[test]
fn namespace_admins_cannot_grant_what_they_do_not_hold() {
    let c = Cluster::start();
    c.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}"#,
    );
    c.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "alice-admin", "namespace": "team"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "User", "name": "alice"}]}"#,
    );
    let pods_role = r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "pods", "namespace": "team"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}"#;
    eventually("alice's admin binding takes effect", || {
        let out = c.kubectl_with_stdin(&["create", "-f", "-", "--as=alice"], Some(pods_role));
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| output_text(&out))
    });
    let err = c.fails(
        &["create", "-f", "-", "--as=alice"],
        Some(
            r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "nodes", "namespace": "team"},
                "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]}"#,
        ),
    );
    assert!(
        err.contains(
            "roles.rbac.authorization.k8s.io \"nodes\" is forbidden: user \"alice\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"nodes\"], Verbs:[\"get\" \"list\"]}"
        ),
        "{err}"
    );
    let err = c.fails(
        &["create", "-f", "-", "--as=alice"],
        Some(
            r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "alice-root", "namespace": "team"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "User", "name": "alice"}]}"#,
        ),
    );
    assert!(
        err.contains("rolebindings.rbac.authorization.k8s.io \"alice-root\" is forbidden")
            && err.contains("{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}"),
        "{err}"
    );
    // Binding a role she holds is fine.
    c.ok_stdin(
        &["create", "-f", "-", "--as=alice"],
        r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "bob-view", "namespace": "team"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "bob"}]}"#,
    );
}
