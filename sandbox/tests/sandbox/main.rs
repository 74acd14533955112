//! The sandbox against real test modules (`modules/tests/`), over an in-memory fake API.

mod common;
mod fake_api;
mod hostile;
mod swap;
mod well_behaved;
