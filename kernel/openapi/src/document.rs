//! A generated document, held gzip-compressed with the hash of its JSON, and the writer that
//! produces it: the JSON is streamed through the hash into the compressor, so a document never
//! exists uncompressed in memory while it is generated.

use std::io::{self, Read, Write};

use bytes::Bytes;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::error::GenerateError;
use crate::operations::PathItem;

/// One generated document.
#[derive(Clone, Debug)]
pub struct Document {
    hash: String,
    gzip: Bytes,
    json_len: usize,
}

impl Document {
    /// The SHA-512 of the JSON, upper-case hex (as kube's `?hash=` and ETag).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The JSON, gzip-compressed (a cheap clone of shared bytes).
    pub fn gzip(&self) -> Bytes {
        self.gzip.clone()
    }

    /// The size of the JSON, uncompressed.
    pub fn json_len(&self) -> usize {
        self.json_len
    }

    /// The JSON, inflated.
    pub fn json(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.json_len);
        flate2::read::GzDecoder::new(&self.gzip[..]).read_to_end(&mut out)?;
        Ok(out)
    }
}

/// Writes one document: JSON into a SHA-512 and a gzip stream at once.
pub(crate) struct Writer {
    hash: ring::digest::Context,
    gzip: flate2::write::GzEncoder<Vec<u8>>,
    len: usize,
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.gzip.write_all(buf)?;
        self.hash.update(buf);
        self.len += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.gzip.flush()
    }
}

impl Writer {
    /// An empty document.
    pub(crate) fn new() -> Self {
        Self {
            hash: ring::digest::Context::new(&ring::digest::SHA512),
            gzip: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()),
            len: 0,
        }
    }

    /// Writes `"key":`.
    pub(crate) fn key(&mut self, key: &str) -> io::Result<()> {
        serde_json::to_writer(&mut *self, key)?;
        self.write_all(b":")
    }

    /// Writes a value as JSON.
    pub(crate) fn value(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut *self, value).map_err(io::Error::from)
    }

    /// Writes the object of named schemas: every schema `paths` use and what they reach,
    /// sorted by name.
    pub(crate) fn schemas(
        &mut self,
        catalog: &Catalog,
        paths: &[PathItem],
    ) -> Result<(), GenerateError> {
        let mut roots = Vec::new();
        for path in paths {
            for (operation, name) in path.schemas() {
                roots.push(catalog.find(name).ok_or_else(|| GenerateError::Dangling {
                    from: operation.into(),
                    to: name.into(),
                })?);
            }
        }
        self.write_all(b"{")?;
        for (n, index) in catalog.closure(roots).into_iter().enumerate() {
            if n > 0 {
                self.write_all(b",")?;
            }
            self.key(catalog.name(index))?;
            self.value(&catalog.schema(index)?)?;
        }
        self.write_all(b"}")?;
        Ok(())
    }

    /// Writes the object of paths, each rendered by `render`, sorted by path.
    pub(crate) fn paths(
        &mut self,
        paths: &mut [PathItem],
        render: impl Fn(&PathItem) -> serde_json::Value,
    ) -> io::Result<()> {
        paths.sort_by(|a, b| a.path.cmp(&b.path));
        self.write_all(b"{")?;
        for (n, path) in paths.iter().enumerate() {
            if n > 0 {
                self.write_all(b",")?;
            }
            self.key(&path.path)?;
            self.value(&render(path))?;
        }
        self.write_all(b"}")
    }

    /// The finished document.
    pub(crate) fn finish(self) -> io::Result<Document> {
        let gzip = self.gzip.finish()?;
        let hash = self
            .hash
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        Ok(Document {
            hash,
            gzip: Bytes::from(gzip),
            json_len: self.len,
        })
    }
}

/// The `info` of every document: the schema is Kubernetes' own, of the embedded version.
pub(crate) fn info() -> serde_json::Value {
    serde_json::json!({
        "title": "Kubernetes",
        "version": format!("v{}.0", crate::KUBERNETES_VERSION),
    })
}

/// The bearer-token security scheme kube declares.
pub(crate) fn bearer_token() -> serde_json::Value {
    serde_json::json!({
        "BearerToken": {
            "description": "Bearer Token authentication",
            "in": "header",
            "name": "authorization",
            "type": "apiKey",
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_and_hash_their_json() {
        let mut w = Writer::new();
        w.write_all(b"{").unwrap();
        w.key("a\"b").unwrap();
        w.value(&serde_json::json!([1, 2])).unwrap();
        w.write_all(b"}").unwrap();
        let doc = w.finish().unwrap();
        let json = doc.json().unwrap();
        assert_eq!(json, br#"{"a\"b":[1,2]}"#);
        assert_eq!(doc.json_len(), json.len());
        let expected: String = ring::digest::digest(&ring::digest::SHA512, &json)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(doc.hash(), expected);
        assert_eq!(doc.hash().len(), 128);
    }
}
