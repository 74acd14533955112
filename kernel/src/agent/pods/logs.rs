//! Container logs: where each container's log file lives
//! (`<log-dir>/<ns>_<pod>_<uid>/<container>/<restartCount>.log`, kubelet's layout), what the
//! workers tell about their containers, and the API server's `pods/log` hook over them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use http::StatusCode;
use kmicro_apiserver::{PodLogError, PodLogHost, PodLogRequest, PodLogStream};
use kmicro_cri_logs::{LogFollow, ReadOptions, read_logs};

/// The directory of a pod's logs.
pub fn pod_log_dir(root: &Path, namespace: &str, name: &str, uid: &str) -> PathBuf {
    root.join(format!("{namespace}_{name}_{uid}"))
}

/// A container's log file for one attempt.
pub fn log_path(pod_dir: &Path, container: &str, attempt: u32) -> PathBuf {
    pod_dir.join(container).join(format!("{attempt}.log"))
}

/// What the log reader needs to know of one container.
#[derive(Clone, Default)]
pub struct ContainerLog {
    /// The attempt (restart count) of its latest instance, once one was created.
    pub attempt: Option<u32>,
    /// The latest instance's writer, while it runs (followers wait on it).
    pub follow: Option<LogFollow>,
    /// Why it has no instance yet (`ContainerCreating`, `ErrImagePull`, …).
    pub waiting_reason: String,
}

/// One pod's containers.
#[derive(Clone, Default)]
pub struct PodLogs {
    /// Its log directory.
    pub dir: PathBuf,
    /// By container name.
    pub containers: HashMap<String, ContainerLog>,
}

/// Every pod's logs, by pod uid: written by the workers, read by `pods/log`.
#[derive(Clone, Default)]
pub struct LogRegistry(Arc<Mutex<HashMap<String, PodLogs>>>);

impl std::fmt::Debug for LogRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogRegistry")
    }
}

impl LogRegistry {
    /// Changes what is known of container `name` of pod `uid` (logged in `dir`).
    pub fn update(
        &self,
        uid: &str,
        dir: &Path,
        name: &str,
        change: impl FnOnce(&mut ContainerLog),
    ) {
        let mut pods = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let pod = pods.entry(uid.to_string()).or_insert_with(|| PodLogs {
            dir: dir.to_path_buf(),
            containers: HashMap::new(),
        });
        change(pod.containers.entry(name.to_string()).or_default());
    }

    /// Forgets pod `uid`.
    pub fn remove(&self, uid: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uid);
    }

    fn get(&self, uid: &str) -> Option<PodLogs> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uid)
            .cloned()
    }
}

impl PodLogHost for LogRegistry {
    fn logs(&self, request: PodLogRequest<'_>) -> Result<PodLogStream, PodLogError> {
        let pod_name = request.pod["metadata"]["name"].as_str().unwrap_or("");
        let uid = request.pod["metadata"]["uid"].as_str().unwrap_or("");
        let container = request.container;
        let bad = |message: String| PodLogError {
            code: StatusCode::BAD_REQUEST,
            message,
        };
        let now = jiff::Timestamp::now();
        let options =
            ReadOptions::from_query(request.query, now).map_err(|e| bad(e.to_string()))?;
        let waiting = |reason: &str| {
            bad(format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: {}",
                if reason.is_empty() {
                    "ContainerCreating"
                } else {
                    reason
                }
            ))
        };
        let pod = self.get(uid).ok_or_else(|| waiting(""))?;
        let log = pod.containers.get(container).cloned().unwrap_or_default();
        let Some(attempt) = log.attempt else {
            return Err(waiting(&log.waiting_reason));
        };
        let (path, follow) = if request.previous {
            let previous = attempt
                .checked_sub(1)
                .map(|a| log_path(&pod.dir, container, a))
                .filter(|p| p.exists())
                .ok_or_else(|| {
                    bad(format!(
                        "previous terminated container {container:?} in pod {pod_name:?} not found"
                    ))
                })?;
            (previous, None)
        } else {
            (log_path(&pod.dir, container, attempt), log.follow.clone())
        };
        if !path.exists() {
            return Err(waiting(&log.waiting_reason));
        }
        Ok(Box::pin(read_logs(path, options, follow)))
    }
}
