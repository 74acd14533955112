//! watch hub
