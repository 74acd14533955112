//! Benchmarks behind `kmicro bench`. Each runs kmicro's component and, where one exists, its
//! real peer through the same interface, and reports medians and tail latencies rather than
//! single timings. `bench store` drives the store in this process; `bench api` starts
//! `kmicro run` as a child and drives it over HTTPS as a client would.

pub mod api;
mod child;
mod load;
pub mod store;
mod summary;
