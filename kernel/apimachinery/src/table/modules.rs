//! `modules.kmicro.io` (kmicro's own): Modules print their phase, version, restarts and
//! memory, and with `-o wide` the running digest and the last error.

use super::util::{age, int_at, name, opt_int, str_at};
use super::{AGE, Column, NAME, Printer};
use crate::module::human_bytes;

/// The printer of a resource of this group.
pub(crate) fn printer(plural: &str) -> Option<&'static Printer> {
    match plural {
        "modules" => Some(&MODULE),
        _ => None,
    }
}

static MODULE: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Phase",
            "string",
            "Where the module is in its life: Pending, Starting, Running, BackOff or Failed.",
        ),
        Column::new("Version", "string", "The running module's own version."),
        Column::new(
            "Restarts",
            "integer",
            "How often the module was restarted after a failure.",
        ),
        Column::new("Memory", "string", "The memory the module's instance uses."),
        AGE,
        Column::wide("Digest", "string", "The digest of the running component."),
        Column::wide("Last Error", "string", "The module's last failure."),
    ],
    |o, now| {
        let memory = opt_int(o, &["status", "memoryBytes"])
            .and_then(|b| u64::try_from(b).ok())
            .map(human_bytes)
            .unwrap_or_default();
        let phase = match str_at(o, &["status", "phase"]) {
            "" => "Pending",
            phase => phase,
        };
        vec![
            name(o),
            phase.into(),
            str_at(o, &["status", "version"]).into(),
            int_at(o, &["status", "restarts"]).into(),
            memory.into(),
            age(o, now),
            str_at(o, &["status", "digest"]).into(),
            str_at(o, &["status", "lastError"]).into(),
        ]
    },
);
