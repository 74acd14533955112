//! Benchmarks behind `kmicro bench`. Each runs kmicro's component and, where one exists, its
//! real peer through the same interface, and reports medians and tail latencies rather than
//! single timings. `bench store` drives the store in this process; `bench api` starts
//! `kmicro run` as a child and drives it over HTTPS as a client would; `bench modules` does the
//! same to measure the control-plane modules (memory, hot-swap pauses under churn); `bench pods`
//! starts containers through kmicro's runtime and through runc.

pub mod api;
mod child;
mod child_host;
mod load;
pub mod modules;
mod pod_cluster;
pub mod pods;
pub mod store;
mod summary;
