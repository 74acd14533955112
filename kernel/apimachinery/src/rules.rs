//! Per-kind decoding, defaulting and validation (to be written).
