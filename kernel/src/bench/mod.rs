//! Benchmarks behind `kmicro bench`. Each runs kmicro's component and, where one exists, its
//! real peer through the same interface in the same process, and reports medians and tail
//! latencies rather than single timings.

pub mod store;
mod summary;
