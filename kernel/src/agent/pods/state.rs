//! What the agent knows of one container of a pod (a [`Slot`]): its latest instance's state,
//! the previous termination, readiness, back-offs.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::task::AbortHandle;

use super::backoff::Backoff;

/// How an instance ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminated {
    /// The instance's id.
    pub id: String,
    /// The exit code (128 + signal for a signal, 137 when unknown).
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// `Completed`, `Error`, `OOMKilled`, `ContainerStatusUnknown`.
    pub reason: String,
    /// The termination message (the termination log's contents).
    pub message: Option<String>,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// How long it ran.
    pub ran: Duration,
}

/// The state of a container's latest instance, as the status shows it.
#[derive(Clone, Debug)]
pub enum SlotState {
    /// No instance runs: being created, backing off, or failing to start.
    Waiting {
        /// `ContainerCreating`, `PodInitializing`, `CrashLoopBackOff`, `ErrImagePull`, …
        reason: String,
        /// Details, for errors and back-offs.
        message: Option<String>,
        /// When the next attempt may start (a back-off), if it must wait.
        retry_at: Option<Instant>,
    },
    /// An instance runs.
    Running {
        /// Its id.
        id: String,
        /// When it started.
        started_at: Timestamp,
        /// The same, on the monotonic clock (how long it ran).
        since: Instant,
    },
    /// The latest instance ended and will not be restarted (or not yet: the next sync
    /// decides).
    Terminated(Terminated),
}

/// One container of a pod.
#[derive(Debug)]
pub struct Slot {
    /// Its name.
    pub name: String,
    /// An init container.
    pub init: bool,
    /// The image as the pod names it.
    pub image: String,
    /// The image's ID (`name@sha256:…`) once known.
    pub image_id: String,
    /// The attempt of its latest instance (its restart count), once one was created.
    pub attempt: Option<u32>,
    /// The latest instance's state.
    pub state: SlotState,
    /// The previous instance's end (`lastState`).
    pub last: Option<Terminated>,
    /// Ready (running, and its readiness probe, if any, succeeds).
    pub ready: bool,
    /// Started (running, and its startup probe, if any, succeeded).
    pub started: bool,
    /// Restart back-off.
    pub backoff: Backoff,
    /// Image pull back-off.
    pub pull_backoff: Backoff,
    /// Its probes' tasks, while an instance runs.
    pub probes: Vec<AbortHandle>,
}

impl Slot {
    /// A container that has not run here yet.
    pub fn new(name: &str, init: bool, image: &str) -> Self {
        Slot {
            name: name.to_string(),
            init,
            image: image.to_string(),
            image_id: String::new(),
            attempt: None,
            state: SlotState::Waiting {
                reason: if init {
                    "PodInitializing"
                } else {
                    "ContainerCreating"
                }
                .to_string(),
                message: None,
                retry_at: None,
            },
            last: None,
            ready: false,
            started: false,
            backoff: Backoff::default(),
            pull_backoff: Backoff::default(),
            probes: Vec::new(),
        }
    }

    /// The running instance's id.
    pub fn running_id(&self) -> Option<&str> {
        match &self.state {
            SlotState::Running { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Ended with exit code 0 (an init container that is done).
    pub fn succeeded(&self) -> bool {
        matches!(&self.state, SlotState::Terminated(t) if t.exit_code == 0)
    }

    /// Stops its probes.
    pub fn stop_probes(&mut self) {
        for probe in self.probes.drain(..) {
            probe.abort();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.stop_probes();
    }
}
