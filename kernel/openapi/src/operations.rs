//! The API's paths and operations as kube-apiserver lists them (names, verbs, parameters,
//! bodies, replies), in a form both document dialects render.
//!
//! Per resource, as kube: the collection (list, create, deletecollection), the object (read,
//! replace, patch, delete), `status` and `scale` (read, replace, patch), the all-namespaces
//! list for namespaced resources, and the deprecated `/watch/` paths. Operation ids and tags
//! follow kube's scheme (`patchAppsV1NamespacedDeployment`, `apps_v1`).

use crate::catalog::{Catalog, Gvk};
use crate::error::GenerateError;
use crate::params::{self, Param};
use crate::served::{Resource, group_version_path};

/// `Status`, the answer of deletes.
pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
/// The body of deletes.
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
/// One event of a watch stream.
const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
/// The body of PATCH requests.
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// `/api/v1/` and `/apis/<group>/<version>/`.
const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
/// `/api/`.
const API_VERSIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions";
/// `/apis/`.
const API_GROUP_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList";
/// `/apis/<group>/`.
const API_GROUP: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup";
/// `/version/`.
const VERSION_INFO: &str = "io.k8s.apimachinery.pkg.version.Info";

/// An HTTP method, in the order kube's documents list them (alphabetical).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Method {
    /// DELETE
    Delete,
    /// GET
    Get,
    /// PATCH
    Patch,
    /// POST
    Post,
    /// PUT
    Put,
}

impl Method {
    /// The key of the operation in a path item.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Delete => "delete",
            Method::Get => "get",
            Method::Patch => "patch",
            Method::Post => "post",
            Method::Put => "put",
        }
    }
}

/// kube's `x-kubernetes-action` of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Read one object.
    Get,
    /// List a collection.
    List,
    /// Create.
    Post,
    /// Replace.
    Put,
    /// Patch.
    Patch,
    /// Delete one object.
    Delete,
    /// Delete a collection.
    DeleteCollection,
    /// Watch one object (deprecated path).
    Watch,
    /// Watch a collection (deprecated path).
    WatchList,
}

impl Action {
    /// The extension's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::List => "list",
            Action::Post => "post",
            Action::Put => "put",
            Action::Patch => "patch",
            Action::Delete => "delete",
            Action::DeleteCollection => "deletecollection",
            Action::Watch => "watch",
            Action::WatchList => "watchlist",
        }
    }
}

/// A request body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// An object of the named schema, in any content type.
    Object {
        /// The schema.
        schema: String,
        /// Whether the body must be present (it may be absent on deletes).
        required: bool,
    },
    /// A patch; `strategic` when strategic merge patches are accepted besides JSON, merge
    /// and apply patches.
    Patch {
        /// Whether `application/strategic-merge-patch+json` is accepted.
        strategic: bool,
    },
}

/// The content types of a successful answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Produces {
    /// JSON.
    Object,
    /// JSON, or a stream of watch events (`application/json;stream=watch`).
    Stream,
}

/// One possible answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub code: u16,
    /// The schema of the body; `None` for 401.
    pub schema: Option<String>,
}

impl Reply {
    /// The answer's description, as kube words it.
    pub(crate) fn description(&self) -> &'static str {
        match self.code {
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            _ => "Unauthorized",
        }
    }
}

/// One operation (a method on a path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Operation {
    /// The method.
    pub method: Method,
    /// kube's operation id.
    pub id: String,
    /// What it does.
    pub description: String,
    /// The group-version tag (`apps_v1`).
    pub tag: String,
    /// kube's action, for operations on resources.
    pub action: Option<Action>,
    /// The kind the operation is about, for operations on resources.
    pub gvk: Option<Gvk>,
    /// Parameters of this operation only.
    pub params: Vec<Param>,
    /// The request body, if any.
    pub body: Option<Body>,
    /// The answers, ascending by code.
    pub replies: Vec<Reply>,
    /// The content types of a successful answer.
    pub produces: Produces,
}

/// One path with its operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathItem {
    /// The path template (`/apis/apps/v1/namespaces/{namespace}/deployments/{name}`).
    pub path: String,
    /// Parameters shared by all operations, sorted by name.
    pub params: Vec<Param>,
    /// The operations, sorted by method.
    pub operations: Vec<Operation>,
}

impl PathItem {
    fn new(path: String, mut params: Vec<Param>, mut operations: Vec<Operation>) -> Self {
        params.sort_by(|a, b| a.name.cmp(b.name));
        operations.sort_by_key(|op| op.method);
        Self {
            path,
            params,
            operations,
        }
    }

    /// Every schema the operations name (bodies and answers), with the operation naming it.
    pub(crate) fn schemas(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        for op in &self.operations {
            match &op.body {
                Some(Body::Object { schema, .. }) => out.push((op.id.as_str(), schema.as_str())),
                Some(Body::Patch { .. }) => out.push((op.id.as_str(), PATCH)),
                None => {}
            }
            for reply in &op.replies {
                if let Some(schema) = &reply.schema {
                    out.push((op.id.as_str(), schema.as_str()));
                }
            }
        }
        out
    }
}

/// How operation ids and tags name a group-version: `getAppsV1…` / `apps_v1`.
struct Naming {
    /// `AppsV1`, `CoreV1`, `RbacAuthorizationV1`.
    prefix: String,
    /// `apps_v1`.
    tag: String,
}

impl Naming {
    fn new(group: &str, version: &str) -> Self {
        let group = group_word(group);
        Self {
            prefix: format!(
                "{}{}",
                operation_word(&group, true),
                operation_word(version, true)
            ),
            tag: format!(
                "{}_{}",
                operation_word(&group, false),
                operation_word(version, false)
            ),
        }
    }

    fn id(&self, verb: &str, rest: &str) -> String {
        format!("{verb}{}{rest}", self.prefix)
    }
}

/// The group as operation ids name it: `core` for the core group, without `.k8s.io`.
fn group_word(group: &str) -> String {
    if group.is_empty() {
        "core".into()
    } else {
        group.strip_suffix(".k8s.io").unwrap_or(group).into()
    }
}

/// kube's operation-id word: letters, `_` and non-leading digits kept, every other character
/// dropped and the next letter capitalized (`rbac.authorization` → `rbacAuthorization`).
fn operation_word(text: &str, capitalize_first: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut capitalize = capitalize_first;
    for (i, c) in text.chars().enumerate() {
        if c.is_alphabetic() || c == '_' || (i != 0 && c.is_numeric()) {
            if capitalize {
                out.extend(c.to_uppercase());
                capitalize = false;
            } else {
                out.push(c);
            }
        } else {
            capitalize = true;
        }
    }
    out
}

/// A GET answering one object of `schema`, with no parameters of its own.
fn get(id: String, description: &str, tag: &str, schema: &str) -> Operation {
    Operation {
        method: Method::Get,
        id,
        description: description.into(),
        tag: tag.into(),
        action: None,
        gvk: None,
        params: Vec::new(),
        body: None,
        replies: replies(&[200], schema),
        produces: Produces::Object,
    }
}

/// The answers `codes` with `schema`, then 401.
fn replies(codes: &[u16], schema: &str) -> Vec<Reply> {
    let mut out: Vec<Reply> = codes
        .iter()
        .map(|&code| Reply {
            code,
            schema: Some(schema.into()),
        })
        .collect();
    out.push(Reply {
        code: 401,
        schema: None,
    });
    out
}

/// `/api/`: the core group's versions.
pub(crate) fn core_versions() -> PathItem {
    let op = get(
        "getCoreAPIVersions".into(),
        "get available API versions",
        "core",
        API_VERSIONS,
    );
    PathItem::new("/api/".into(), Vec::new(), vec![op])
}

/// `/apis/`: the API groups.
pub(crate) fn groups() -> PathItem {
    let op = get(
        "getAPIVersions".into(),
        "get available API versions",
        "apis",
        API_GROUP_LIST,
    );
    PathItem::new("/apis/".into(), Vec::new(), vec![op])
}

/// `/apis/<group>/`: one API group.
pub(crate) fn group(group: &str) -> PathItem {
    let word = group_word(group);
    let op = get(
        format!("get{}APIGroup", operation_word(&word, true)),
        "get information of a group",
        &operation_word(&word, false),
        API_GROUP,
    );
    PathItem::new(format!("/apis/{group}/"), Vec::new(), vec![op])
}

/// `/version/`: the server's version.
pub(crate) fn code_version() -> PathItem {
    let op = get(
        "getCodeVersion".into(),
        "get the code version",
        "version",
        VERSION_INFO,
    );
    PathItem::new("/version/".into(), Vec::new(), vec![op])
}

/// The paths of one group-version: its resource list and every path of `resources`.
pub(crate) fn group_version(
    catalog: &Catalog,
    group: &str,
    version: &str,
    resources: &[&Resource<'_>],
) -> Result<Vec<PathItem>, GenerateError> {
    let naming = Naming::new(group, version);
    let root = format!("/{}", group_version_path(group, version));
    let mut out = vec![PathItem::new(
        format!("{root}/"),
        Vec::new(),
        vec![get(
            naming.id("get", "APIResources"),
            "get available resources",
            &naming.tag,
            API_RESOURCE_LIST,
        )],
    )];
    for r in resources {
        out.extend(ResourcePaths::new(catalog, &naming, &root, r)?.all());
    }
    Ok(out)
}

/// The verbs of `status` and `scale`.
const STATUS_AND_SCALE_VERBS: &[&str] = &["get", "update", "patch"];

/// A subresource as the documents describe it.
struct SubresourcePaths<'a> {
    /// The path segment after the object's name (`status`, `scale`, `token`).
    name: &'a str,
    /// The kind it takes and answers, and its schema.
    gvk: Gvk,
    schema: String,
    /// Its verbs (`get`, `update`, `patch`, `create`).
    verbs: &'a [&'a str],
}

/// Builds the paths of one resource.
struct ResourcePaths<'a> {
    naming: &'a Naming,
    r: &'a Resource<'a>,
    /// `/apis/apps/v1`
    root: &'a str,
    gvk: Gvk,
    /// The kind's schema.
    object: String,
    /// The list kind's schema; `None` for create-only resources, which have no list.
    list: Option<String>,
    /// `status`, `scale` and the others, in that order.
    subresources: Vec<SubresourcePaths<'a>>,
}

impl<'a> ResourcePaths<'a> {
    fn new(
        catalog: &Catalog,
        naming: &'a Naming,
        root: &'a str,
        r: &'a Resource<'a>,
    ) -> Result<Self, GenerateError> {
        let gvk = Gvk::new(r.group, r.version, r.kind);
        let object = catalog.kind(&gvk)?.to_string();
        let list = if r.create_only {
            None
        } else {
            let list = Gvk::new(r.group, r.version, &format!("{}List", r.kind));
            Some(catalog.kind(&list)?.to_string())
        };
        let mut subresources = Vec::new();
        if r.status {
            subresources.push(SubresourcePaths {
                name: "status",
                gvk: gvk.clone(),
                schema: object.clone(),
                verbs: STATUS_AND_SCALE_VERBS,
            });
        }
        let scale = r.scale.then_some((
            "scale",
            "autoscaling",
            "v1",
            "Scale",
            STATUS_AND_SCALE_VERBS,
        ));
        let others = r
            .subresources
            .iter()
            .map(|s| (s.name, s.group, s.version, s.kind, s.verbs));
        for (name, group, version, kind, verbs) in scale.into_iter().chain(others) {
            let gvk = Gvk::new(group, version, kind);
            let schema = catalog.kind(&gvk)?.to_string();
            subresources.push(SubresourcePaths {
                name,
                gvk,
                schema,
                verbs,
            });
        }
        Ok(Self {
            naming,
            r,
            root,
            gvk,
            object,
            list,
            subresources,
        })
    }

    fn all(&self) -> Vec<PathItem> {
        let Some(list) = &self.list else {
            return vec![self.create_only()];
        };
        let mut out = vec![self.collection(list), self.object()];
        out.extend(self.subresources.iter().map(|s| self.subresource(s)));
        out.extend(self.watches());
        if self.r.namespaced {
            out.push(self.all_namespaces(list));
        }
        out
    }

    /// `Namespaced<Kind>` or `<Kind>`, as operation ids name the scope.
    fn scoped_kind(&self) -> String {
        if self.r.namespaced {
            format!("Namespaced{}", self.r.kind)
        } else {
            self.r.kind.to_string()
        }
    }

    /// The collection's path and its path parameters (`{namespace}`, `pretty`).
    fn collection_path(&self) -> (String, Vec<Param>) {
        if self.r.namespaced {
            (
                format!("{}/namespaces/{{namespace}}/{}", self.root, self.r.plural),
                vec![params::namespace(), params::pretty()],
            )
        } else {
            (
                format!("{}/{}", self.root, self.r.plural),
                vec![params::pretty()],
            )
        }
    }

    fn operation(
        &self,
        method: Method,
        id: String,
        description: String,
        action: Action,
        params: Vec<Param>,
    ) -> Operation {
        Operation {
            method,
            id,
            description,
            tag: self.naming.tag.clone(),
            action: Some(action),
            gvk: Some(self.gvk.clone()),
            params,
            body: None,
            replies: Vec::new(),
            produces: Produces::Object,
        }
    }

    fn collection(&self, list_schema: &str) -> PathItem {
        let kind = self.r.kind;
        let scoped = self.scoped_kind();
        let (path, path_params) = self.collection_path();
        let list = Operation {
            replies: replies(&[200], list_schema),
            produces: Produces::Stream,
            ..self.operation(
                Method::Get,
                self.naming.id("list", &scoped),
                format!("list or watch objects of kind {kind}"),
                Action::List,
                params::list(),
            )
        };
        let create = self.create();
        let delete = Operation {
            body: Some(Body::Object {
                schema: DELETE_OPTIONS.into(),
                required: false,
            }),
            replies: replies(&[200], STATUS),
            ..self.operation(
                Method::Delete,
                self.naming.id("delete", &format!("Collection{scoped}")),
                format!("delete collection of {kind}"),
                Action::DeleteCollection,
                params::delete_collection(),
            )
        };
        PathItem::new(path, path_params, vec![list, create, delete])
    }

    fn object(&self) -> PathItem {
        let kind = self.r.kind;
        let scoped = self.scoped_kind();
        let (collection, mut path_params) = self.collection_path();
        path_params.push(params::name(kind));
        let read = Operation {
            replies: replies(&[200], &self.object),
            ..self.operation(
                Method::Get,
                self.naming.id("read", &scoped),
                format!("read the specified {kind}"),
                Action::Get,
                Vec::new(),
            )
        };
        let replace = Operation {
            body: Some(Body::Object {
                schema: self.object.clone(),
                required: true,
            }),
            replies: replies(&[200, 201], &self.object),
            ..self.operation(
                Method::Put,
                self.naming.id("replace", &scoped),
                format!("replace the specified {kind}"),
                Action::Put,
                params::write(),
            )
        };
        let patch = Operation {
            body: Some(Body::Patch {
                strategic: self.r.strategic_merge_patch,
            }),
            replies: replies(&[200, 201], &self.object),
            ..self.operation(
                Method::Patch,
                self.naming.id("patch", &scoped),
                format!("partially update the specified {kind}"),
                Action::Patch,
                params::patch(),
            )
        };
        let delete = Operation {
            body: Some(Body::Object {
                schema: DELETE_OPTIONS.into(),
                required: false,
            }),
            replies: replies(&[200, 202], STATUS),
            ..self.operation(
                Method::Delete,
                self.naming.id("delete", &scoped),
                format!("delete a {kind}"),
                Action::Delete,
                params::delete(),
            )
        };
        PathItem::new(
            format!("{collection}/{{name}}"),
            path_params,
            vec![read, replace, patch, delete],
        )
    }

    /// POST of a new object to the collection.
    fn create(&self) -> Operation {
        Operation {
            body: Some(Body::Object {
                schema: self.object.clone(),
                required: true,
            }),
            replies: replies(&[200, 201, 202], &self.object),
            ..self.operation(
                Method::Post,
                self.naming.id("create", &self.scoped_kind()),
                format!("create a {}", self.r.kind),
                Action::Post,
                params::write(),
            )
        }
    }

    /// The collection of a create-only resource (a review): POST and nothing else.
    fn create_only(&self) -> PathItem {
        let (path, path_params) = self.collection_path();
        PathItem::new(path, path_params, vec![self.create()])
    }

    /// A subresource: an operation per verb it has, on its schema, about its kind.
    fn subresource(&self, sub: &SubresourcePaths<'_>) -> PathItem {
        let kind = self.r.kind;
        let name = sub.name;
        let scoped = format!("{}{}", self.scoped_kind(), operation_word(name, true));
        let (collection, mut path_params) = self.collection_path();
        path_params.push(params::name(&sub.gvk.kind));
        let body = || {
            Some(Body::Object {
                schema: sub.schema.clone(),
                required: true,
            })
        };
        let operations = sub
            .verbs
            .iter()
            .filter_map(|verb| {
                let op = match *verb {
                    "get" => Operation {
                        replies: replies(&[200], &sub.schema),
                        ..self.operation(
                            Method::Get,
                            self.naming.id("read", &scoped),
                            format!("read {name} of the specified {kind}"),
                            Action::Get,
                            Vec::new(),
                        )
                    },
                    "update" => Operation {
                        body: body(),
                        replies: replies(&[200, 201], &sub.schema),
                        ..self.operation(
                            Method::Put,
                            self.naming.id("replace", &scoped),
                            format!("replace {name} of the specified {kind}"),
                            Action::Put,
                            params::write(),
                        )
                    },
                    "patch" => Operation {
                        body: Some(Body::Patch {
                            strategic: self.r.strategic_merge_patch,
                        }),
                        replies: replies(&[200, 201], &sub.schema),
                        ..self.operation(
                            Method::Patch,
                            self.naming.id("patch", &scoped),
                            format!("partially update {name} of the specified {kind}"),
                            Action::Patch,
                            params::patch(),
                        )
                    },
                    "create" => Operation {
                        body: body(),
                        replies: replies(&[200, 201, 202], &sub.schema),
                        ..self.operation(
                            Method::Post,
                            self.naming.id("create", &scoped),
                            format!("create {name} of a {kind}"),
                            Action::Post,
                            params::write(),
                        )
                    },
                    _ => return None,
                };
                Some(Operation {
                    gvk: Some(sub.gvk.clone()),
                    ..op
                })
            })
            .collect();
        PathItem::new(
            format!("{collection}/{{name}}/{name}"),
            path_params,
            operations,
        )
    }

    /// The deprecated `/watch/` paths: the collection (in a namespace, or cluster-wide) and
    /// one object.
    fn watches(&self) -> Vec<PathItem> {
        let kind = self.r.kind;
        let scoped = self.scoped_kind();
        let (scope_path, mut scope_params) = if self.r.namespaced {
            (
                format!(
                    "{}/watch/namespaces/{{namespace}}/{}",
                    self.root, self.r.plural
                ),
                vec![params::namespace()],
            )
        } else {
            (format!("{}/watch/{}", self.root, self.r.plural), Vec::new())
        };
        scope_params.push(params::pretty());
        scope_params.extend(params::list());
        let list = Operation {
            replies: replies(&[200], WATCH_EVENT),
            produces: Produces::Stream,
            ..self.operation(
                Method::Get,
                self.naming.id("watch", &format!("{scoped}List")),
                format!(
                    "watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."
                ),
                Action::WatchList,
                Vec::new(),
            )
        };
        let one = Operation {
            replies: replies(&[200], WATCH_EVENT),
            produces: Produces::Stream,
            ..self.operation(
                Method::Get,
                self.naming.id("watch", &scoped),
                format!(
                    "watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
                ),
                Action::Watch,
                Vec::new(),
            )
        };
        let mut one_params = scope_params.clone();
        one_params.push(params::name(kind));
        let mut out = vec![
            PathItem::new(format!("{scope_path}/{{name}}"), one_params, vec![one]),
            PathItem::new(scope_path, scope_params, vec![list]),
        ];
        if self.r.namespaced {
            let mut all_params = vec![params::pretty()];
            all_params.extend(params::list());
            let all = Operation {
                replies: replies(&[200], WATCH_EVENT),
                produces: Produces::Stream,
                ..self.operation(
                    Method::Get,
                    self.naming
                        .id("watch", &format!("{kind}ListForAllNamespaces")),
                    format!(
                        "watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."
                    ),
                    Action::WatchList,
                    Vec::new(),
                )
            };
            out.push(PathItem::new(
                format!("{}/watch/{}", self.root, self.r.plural),
                all_params,
                vec![all],
            ));
        }
        out
    }

    /// `/<root>/<plural>`: a namespaced resource listed across all namespaces.
    fn all_namespaces(&self, list_schema: &str) -> PathItem {
        let kind = self.r.kind;
        let mut path_params = vec![params::pretty()];
        path_params.extend(params::list());
        let list = Operation {
            replies: replies(&[200], list_schema),
            produces: Produces::Stream,
            ..self.operation(
                Method::Get,
                self.naming.id("list", &format!("{kind}ForAllNamespaces")),
                format!("list or watch objects of kind {kind}"),
                Action::List,
                Vec::new(),
            )
        };
        PathItem::new(
            format!("{}/{}", self.root, self.r.plural),
            path_params,
            vec![list],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Dialect;
    use crate::served::ServedApi;

    #[test]
    fn operation_words_follow_kube() {
        assert_eq!(Naming::new("", "v1").prefix, "CoreV1");
        assert_eq!(Naming::new("apps", "v1").tag, "apps_v1");
        let rbac = Naming::new("rbac.authorization.k8s.io", "v1beta1");
        assert_eq!(rbac.prefix, "RbacAuthorizationV1beta1");
        assert_eq!(rbac.tag, "rbacAuthorization_v1beta1");
        assert_eq!(Naming::new("example.com", "v1").prefix, "ExampleComV1");
        assert_eq!(
            group("networking.k8s.io").operations[0].id,
            "getNetworkingAPIGroup"
        );
    }

    #[test]
    fn deployments_have_kubes_paths_and_ids() {
        let catalog = Catalog::build(
            &ServedApi {
                resources: &[],
                extra_schemas: &[],
            },
            Dialect::V3,
        )
        .unwrap();
        let deployments = Resource {
            group: "apps",
            version: "v1",
            kind: "Deployment",
            plural: "deployments",
            namespaced: true,
            status: true,
            scale: true,
            strategic_merge_patch: true,
            create_only: false,
            subresources: &[],
        };
        let paths = group_version(&catalog, "apps", "v1", &[&deployments]).unwrap();
        let ids: Vec<(&str, &str)> = paths
            .iter()
            .flat_map(|p| {
                p.operations
                    .iter()
                    .map(|op| (p.path.as_str(), op.id.as_str()))
            })
            .collect();
        for expected in [
            ("/apis/apps/v1/", "getAppsV1APIResources"),
            (
                "/apis/apps/v1/namespaces/{namespace}/deployments",
                "listAppsV1NamespacedDeployment",
            ),
            (
                "/apis/apps/v1/namespaces/{namespace}/deployments",
                "createAppsV1NamespacedDeployment",
            ),
            (
                "/apis/apps/v1/namespaces/{namespace}/deployments",
                "deleteAppsV1CollectionNamespacedDeployment",
            ),
            (
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                "patchAppsV1NamespacedDeployment",
            ),
            (
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status",
                "replaceAppsV1NamespacedDeploymentStatus",
            ),
            (
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
                "patchAppsV1NamespacedDeploymentScale",
            ),
            (
                "/apis/apps/v1/deployments",
                "listAppsV1DeploymentForAllNamespaces",
            ),
            (
                "/apis/apps/v1/watch/deployments",
                "watchAppsV1DeploymentListForAllNamespaces",
            ),
            (
                "/apis/apps/v1/watch/namespaces/{namespace}/deployments",
                "watchAppsV1NamespacedDeploymentList",
            ),
            (
                "/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}",
                "watchAppsV1NamespacedDeployment",
            ),
        ] {
            assert!(
                ids.contains(&expected),
                "{expected:?} missing from {ids:#?}"
            );
        }
        let scale = paths.iter().find(|p| p.path.ends_with("/scale")).unwrap();
        assert!(
            scale
                .operations
                .iter()
                .all(|op| op.gvk == Some(Gvk::new("autoscaling", "v1", "Scale")))
        );
        let names: Vec<&str> = scale.params.iter().map(|p| p.name).collect();
        assert_eq!(names, ["name", "namespace", "pretty"]);
    }

    #[test]
    fn reviews_are_create_only_and_token_is_a_created_subresource() {
        let catalog = Catalog::build(
            &ServedApi {
                resources: &[],
                extra_schemas: &[],
            },
            Dialect::V3,
        )
        .unwrap();
        let review = Resource {
            group: "authorization.k8s.io",
            version: "v1",
            kind: "SelfSubjectAccessReview",
            plural: "selfsubjectaccessreviews",
            namespaced: false,
            status: false,
            scale: false,
            strategic_merge_patch: true,
            create_only: true,
            subresources: &[],
        };
        let paths = group_version(&catalog, "authorization.k8s.io", "v1", &[&review]).unwrap();
        assert_eq!(paths.len(), 2, "the resource list and the collection");
        let ops: Vec<(Method, &str)> = paths[1]
            .operations
            .iter()
            .map(|op| (op.method, op.id.as_str()))
            .collect();
        assert_eq!(
            ops,
            [(Method::Post, "createAuthorizationV1SelfSubjectAccessReview")]
        );

        let accounts = Resource {
            group: "",
            kind: "ServiceAccount",
            plural: "serviceaccounts",
            namespaced: true,
            create_only: false,
            subresources: &[kmicro_apimachinery::registry::SERVICE_ACCOUNT_TOKEN],
            ..review
        };
        let paths = group_version(&catalog, "", "v1", &[&accounts]).unwrap();
        let token = paths
            .iter()
            .find(|p| p.path == "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token")
            .unwrap();
        let [create] = token.operations.as_slice() else {
            panic!("only create: {:?}", token.operations)
        };
        assert_eq!(create.id, "createCoreV1NamespacedServiceAccountToken");
        assert_eq!(
            create.gvk,
            Some(Gvk::new("authentication.k8s.io", "v1", "TokenRequest"))
        );
        assert_eq!(
            create.body,
            Some(Body::Object {
                schema: "io.k8s.api.authentication.v1.TokenRequest".into(),
                required: true
            })
        );
    }
}
