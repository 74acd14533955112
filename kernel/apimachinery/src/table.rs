//! Server-side printing (to be written).
