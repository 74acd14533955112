//! The recorded attachments: one JSON file per pod under `<state>/pods/`, holding the ADD
//! result (CNI's `prevResult` for a later DEL or CHECK) so they work after kmicro restarts.
//! Written to a temporary file and renamed over, so a crash leaves the old or the new one.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::pod::{PodIp, PodRef, PortMapping};

/// A pod attached to the network: what `setup` made, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// The pod.
    pub pod: PodRef,
    /// Its network namespace file.
    pub netns: PathBuf,
    /// Its hostPorts.
    pub port_mappings: Vec<PortMapping>,
    /// Its address.
    pub pod_ip: PodIp,
    /// The CNI network it is attached to.
    pub network: String,
    /// The ADD result of the network's last plugin (`prevResult` for DEL and CHECK).
    pub(crate) result: Value,
    /// The loopback's ADD result.
    #[serde(default)]
    pub(crate) loopback_result: Value,
}

/// The directory of records.
#[derive(Debug, Clone)]
pub(crate) struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn open(dir: PathBuf) -> Result<Self> {
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        Ok(Records { dir })
    }

    fn path(&self, sandbox_id: &str) -> PathBuf {
        self.dir.join(format!("{sandbox_id}.json"))
    }

    /// The record of a sandbox, if one is stored.
    pub fn load(&self, sandbox_id: &str) -> Result<Option<Attachment>> {
        read(&self.path(sandbox_id))
    }

    pub fn save(&self, a: &Attachment) -> Result<()> {
        let path = self.path(&a.pod.sandbox_id);
        let tmp = self.dir.join(format!(".{}.json.tmp", a.pod.sandbox_id));
        let json = serde_json::to_vec_pretty(a).map_err(|e| Error::Record {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        fs::write(&tmp, json).map_err(|e| Error::io("write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io("rename into place", &path, e)
        })
    }

    pub fn remove(&self, sandbox_id: &str) -> Result<()> {
        let path = self.path(sandbox_id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &path, e)),
        }
    }

    /// Every record, sorted by sandbox id.
    pub fn list(&self) -> Result<Vec<Attachment>> {
        let entries = fs::read_dir(&self.dir).map_err(|e| Error::io("read", &self.dir, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read", &self.dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            if let Some(a) = read(&entry.path())? {
                out.push(a);
            }
        }
        out.sort_by(|a, b| a.pod.sandbox_id.cmp(&b.pod.sandbox_id));
        Ok(out)
    }
}

fn read(path: &Path) -> Result<Option<Attachment>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Record {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::Protocol;

    fn attachment(id: &str) -> Attachment {
        Attachment {
            pod: PodRef {
                namespace: "default".into(),
                name: "web".into(),
                uid: "u1".into(),
                sandbox_id: id.into(),
            },
            netns: "/state/sandboxes/x/ns/net".into(),
            port_mappings: vec![PortMapping {
                host_port: 8080,
                container_port: 80,
                protocol: Protocol::Tcp,
                host_ip: None,
            }],
            pod_ip: PodIp {
                ip: [10, 42, 0, 5].into(),
                prefix_len: 24,
                gateway: Some([10, 42, 0, 1].into()),
            },
            network: "cbr0".into(),
            result: serde_json::json!({"ips": [{"address": "10.42.0.5/24"}]}),
            loopback_result: serde_json::json!({"ips": [{"address": "127.0.0.1/8"}]}),
        }
    }

    #[test]
    fn save_load_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(dir.path().join("pods")).unwrap();
        assert_eq!(records.load("b").unwrap(), None);
        records.save(&attachment("b")).unwrap();
        records.save(&attachment("a")).unwrap();
        assert_eq!(records.load("b").unwrap(), Some(attachment("b")));
        let ids: Vec<_> = records
            .list()
            .unwrap()
            .into_iter()
            .map(|a| a.pod.sandbox_id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        records.remove("b").unwrap();
        records.remove("b").unwrap();
        assert_eq!(records.load("b").unwrap(), None);
    }

    #[test]
    fn corrupt_record_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(dir.path().to_path_buf()).unwrap();
        fs::write(dir.path().join("x.json"), b"{not json").unwrap();
        let err = records.load("x").unwrap_err().to_string();
        assert!(err.contains("x.json"), "{err}");
    }
}
