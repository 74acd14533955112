//! `/openapi/v3` and `/openapi/v2`: the documents `kmicro-openapi` generates for the served
//! resources, with kube-apiserver's negotiation and caching headers.
//!
//! - `/openapi/v3` is the index; each document is named with `?hash=<content hash>`. A request
//!   with the current hash is answered `Cache-Control: public, immutable` (kubectl keeps it on
//!   disk); an old hash is redirected (301) to the current URL, as kube does.
//! - Documents carry `ETag: "<hash>"` (`If-None-Match` → 304) and are sent gzip-compressed as
//!   they are kept when the client accepts gzip, inflated otherwise.
//! - Only JSON is served. kubectl asks `/openapi/v2` for protobuf only; that is 406, which
//!   kubectl tolerates (it uses the v3 documents, or its compiled-in types).
//!
//! Generation runs on a blocking thread; the documents are generated once and kept until the
//! served resources change (see [`kmicro_openapi::Cache`]): custom resources of accepted
//! CustomResourceDefinitions come and go with their definitions, each version with its schema
//! (`CustomResource::openapi_definitions`).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use kmicro_apimachinery::registry::{self, CREATE_ONLY};
use kmicro_openapi::{
    Cache, Document, ExtraSchema, GenerateError, Resource, ServedApi, V3Documents,
};

use crate::error::{ApiError, ApiResult};
use crate::resources::Resources;
use crate::response::{self, Body};

/// How long a hashed document may be cached: kube's one year.
const IMMUTABLE_FOR: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 365);

/// The documents of this server.
#[derive(Default)]
pub struct OpenApi {
    cache: Arc<Cache>,
}

impl OpenApi {
    /// No documents yet; they are generated on first request.
    pub fn new() -> Self {
        Self::default()
    }

    /// `GET /openapi/v3`: the index of the documents of the served `resources`.
    pub async fn v3_index(&self, resources: &Resources) -> ApiResult<Response<Body>> {
        let docs = self.v3_documents(resources).await?;
        Ok(response::json(StatusCode::OK, &docs.index()))
    }

    /// `GET /openapi/v3/<path>[?hash=…]`: one document of the served `resources`.
    pub async fn v3(
        &self,
        resources: &Resources,
        path: &str,
        hash: Option<&str>,
        headers: &HeaderMap,
    ) -> ApiResult<Response<Body>> {
        accept_json(headers)?;
        let docs = self.v3_documents(resources).await?;
        let doc = docs.get(path).ok_or_else(ApiError::path_not_found)?;
        match hash {
            Some(hash) if hash != doc.hash() => {
                Ok(redirect(&format!("/openapi/v3/{path}?hash={}", doc.hash())))
            }
            Some(_) => serve(doc, headers, true),
            None => serve(doc, headers, false),
        }
    }

    /// `GET /openapi/v2`: the Swagger 2.0 document of the served `resources`.
    pub async fn v2(
        &self,
        resources: &Resources,
        headers: &HeaderMap,
    ) -> ApiResult<Response<Body>> {
        accept_json(headers)?;
        let cache = self.cache.clone();
        let (served, extra) = (served(resources), extra_schemas(resources));
        let doc = generate(move || {
            cache.v2(&ServedApi {
                resources: &served,
                extra_schemas: &extra,
            })
        })
        .await?;
        serve(&doc, headers, false)
    }

    async fn v3_documents(&self, resources: &Resources) -> ApiResult<Arc<V3Documents>> {
        let cache = self.cache.clone();
        let (served, extra) = (served(resources), extra_schemas(resources));
        generate(move || {
            cache.v3(&ServedApi {
                resources: &served,
                extra_schemas: &extra,
            })
        })
        .await
    }
}

/// The served resources as the documents describe them: built-in ones, then custom ones
/// (which take no strategic merge patch).
fn served(resources: &Resources) -> Vec<Resource<'static>> {
    resources
        .all()
        .into_iter()
        .map(|r| Resource {
            group: r.group,
            version: r.version,
            kind: r.kind,
            plural: r.plural,
            namespaced: r.namespaced,
            status: r.status,
            scale: r.scale,
            strategic_merge_patch: registry::find(r.group, r.version, r.plural).is_some(),
            create_only: r.verbs() == CREATE_ONLY,
            subresources: r.object_subresources(),
        })
        .collect()
}

/// The schemas of the served custom resource versions (each object and its list).
fn extra_schemas(resources: &Resources) -> Vec<ExtraSchema> {
    resources
        .custom_resources()
        .iter()
        .flat_map(|c| c.openapi_definitions())
        .map(|(name, schema)| ExtraSchema { name, schema })
        .collect()
}

/// Runs `f` (the cache, which may generate) on a blocking thread.
async fn generate<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GenerateError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("generating the OpenAPI documents: {e}")))?
        .map_err(|e| {
            tracing::error!(error = %e, "generating the OpenAPI documents");
            ApiError::internal(format!("generating the OpenAPI documents: {e}"))
        })
}

/// 406 unless the client takes JSON (no Accept takes anything).
fn accept_json(headers: &HeaderMap) -> ApiResult<()> {
    let accept = header_str(headers, header::ACCEPT);
    let ok = accept.trim().is_empty()
        || accept.split(',').any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            matches!(media, "application/json" | "application/*" | "*/*") && !refused(parts)
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            "only the following media types are accepted: application/json",
        ))
    }
}

/// Whether the parameters of a media range or coding say `q=0`.
fn refused<'a>(mut params: impl Iterator<Item = &'a str>) -> bool {
    params.any(|p| {
        p.strip_prefix("q=")
            .and_then(|q| q.trim().parse::<f32>().ok())
            .is_some_and(|q| q == 0.0)
    })
}

/// Whether the client takes gzip-compressed bodies.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    header_str(headers, header::ACCEPT_ENCODING)
        .split(',')
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            matches!(parts.next(), Some("gzip" | "*")) && !refused(parts)
        })
}

/// Whether `If-None-Match` names `etag` (or `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    header_str(headers, header::IF_NONE_MATCH)
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A document with its ETag, compressed when the client takes it; `immutable` when it was
/// asked for by its hash.
fn serve(doc: &Document, headers: &HeaderMap, immutable: bool) -> ApiResult<Response<Body>> {
    let etag = format!("\"{}\"", doc.hash());
    let mut resp = if not_modified(headers, &etag) {
        let mut resp = Response::new(response::full(Bytes::new()));
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp
    } else if accepts_gzip(headers) {
        let mut resp = Response::new(response::full(doc.gzip()));
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        resp
    } else {
        let json = doc
            .json()
            .map_err(|e| ApiError::internal(format!("inflating an OpenAPI document: {e}")))?;
        Response::new(response::full(json))
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(response::JSON),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, etag);
    }
    if immutable {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, immutable"),
        );
        if let Some(expires) = expires() {
            h.insert(header::EXPIRES, expires);
        }
    }
    Ok(resp)
}

/// A year from now, as an HTTP date.
fn expires() -> Option<HeaderValue> {
    let when = jiff::Timestamp::now().checked_add(IMMUTABLE_FOR).ok()?;
    let text = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&when)
        .ok()?;
    HeaderValue::from_str(&text).ok()
}

/// 301 to `location`.
fn redirect(location: &str) -> Response<Body> {
    let mut resp = Response::new(response::full(Bytes::new()));
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(location) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name.clone(), value.parse().unwrap());
        }
        h
    }

    #[test]
    fn negotiation() {
        assert!(accept_json(&HeaderMap::new()).is_ok());
        assert!(accept_json(&headers(&[(header::ACCEPT, "application/json, */*")])).is_ok());
        assert!(accept_json(&headers(&[(header::ACCEPT, "application/*;q=0.5")])).is_ok());
        let protobuf = headers(&[(
            header::ACCEPT,
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )]);
        assert_eq!(
            accept_json(&protobuf).unwrap_err().code,
            StatusCode::NOT_ACCEPTABLE
        );
        assert!(accept_json(&headers(&[(header::ACCEPT, "application/json;q=0")])).is_err());
        assert!(accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "gzip")])));
        assert!(accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "br, gzip;q=0.8"
        )])));
        assert!(!accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "gzip;q=0"
        )])));
        assert!(!accepts_gzip(&HeaderMap::new()));
        assert!(not_modified(
            &headers(&[(header::IF_NONE_MATCH, "\"a\", W/\"B\"")]),
            "\"B\""
        ));
        assert!(!not_modified(&HeaderMap::new(), "\"B\""));
    }

    #[tokio::test]
    async fn documents_are_served_compressed_cached_and_redirected() {
        let api = OpenApi::new();
        let served = Resources::new();
        let docs = api.v3_documents(&served).await.unwrap();
        let hash = docs.get("apis/apps/v1").unwrap().hash().to_string();

        let gzip = headers(&[(header::ACCEPT_ENCODING, "gzip")]);
        let resp = api
            .v3(&served, "apis/apps/v1", Some(&hash), &gzip)
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, immutable");
        assert_eq!(resp.headers()[header::ETAG], format!("\"{hash}\"").as_str());
        assert!(resp.headers().contains_key(header::EXPIRES));

        let resp = api
            .v3(&served, "apis/apps/v1", None, &HeaderMap::new())
            .await
            .unwrap();
        assert!(!resp.headers().contains_key(header::CONTENT_ENCODING));
        assert!(!resp.headers().contains_key(header::CACHE_CONTROL));
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["openapi"], "3.0.0");

        let revalidate = headers(&[(header::IF_NONE_MATCH, &format!("\"{hash}\""))]);
        let resp = api
            .v3(&served, "apis/apps/v1", None, &revalidate)
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);

        let resp = api
            .v3(&served, "apis/apps/v1", Some("OLD"), &gzip)
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            resp.headers()[header::LOCATION],
            format!("/openapi/v3/apis/apps/v1?hash={hash}").as_str()
        );

        let err = api
            .v3(&served, "apis/nope/v1", None, &gzip)
            .await
            .unwrap_err();
        assert_eq!((err.code, err.reason), (StatusCode::NOT_FOUND, "NotFound"));

        let index = api.v3_index(&served).await.unwrap();
        let body = index.into_body().collect().await.unwrap().to_bytes();
        let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for gv in [
            "api/v1",
            "apis/apps/v1",
            "apis/events.k8s.io/v1",
            "apis/authorization.k8s.io/v1",
            "apis/rbac.authorization.k8s.io/v1",
        ] {
            assert!(index["paths"].get(gv).is_some(), "{gv}");
        }

        let protobuf = headers(&[(
            header::ACCEPT,
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )]);
        let err = api.v2(&served, &protobuf).await.unwrap_err();
        assert_eq!(err.code, StatusCode::NOT_ACCEPTABLE);
        let resp = api.v2(&served, &gzip).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
}
