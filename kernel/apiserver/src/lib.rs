//! The API server (to be written).
