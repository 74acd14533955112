//! The command line. Flag names follow k3s wherever k3s has the same flag.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::bench;

/// kmicro: a small Kubernetes for small boards.
#[derive(Debug, Parser)]
#[command(name = "kmicro", version, about, propagate_version = true)]
pub struct Cli {
    /// Log filter (`error`, `warn`, `info`, `debug`, or per-crate directives); RUST_LOG wins.
    #[arg(long, global = true, default_value = "info", env = "KMICRO_LOG_LEVEL")]
    pub log_level: String,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a single-node cluster: the store and the Kubernetes API server.
    #[command(alias = "server")]
    Run(Box<crate::run::RunArgs>),
    /// Manage the control-plane WebAssembly modules of a cluster (over its API).
    Module(crate::module_cmd::ModuleArgs),
    /// Manage the node's container images: import airgap archives, list, remove, pull.
    Images(crate::images_cmd::ImagesArgs),
    /// Measure kmicro's subsystems against their peers.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Compiles a module's component from stdin to an artifact on stdout (the kernel runs
    /// this in a child process for every uploaded module).
    #[command(name = "__compile-module", hide = true)]
    CompileModule,
}

/// `kmicro bench …`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The state store: durable write throughput and watch latency, optionally against a real
    /// etcd started for the run.
    Store(bench::store::StoreBenchArgs),
    /// The API server as clients see it: starts `kmicro run` and measures creates, lists,
    /// watch fan-out latency and memory over its HTTPS API.
    Api(bench::api::ApiBenchArgs),
    /// The control-plane modules: starts `kmicro run`, reports each module's memory, then
    /// swaps `controllers` repeatedly while Deployments are created and scaled, and checks
    /// that every Deployment converged.
    Modules(bench::modules::ModulesBenchArgs),
    /// Container starts through kmicro's runtime (against runc with `--vs runc`).
    Pods(bench::pods::PodsBenchArgs),
}

/// Parses the command line, runs it, and reports errors the way users expect.
pub fn main() -> ExitCode {
    crate::memory::configure();
    let cli = Cli::parse();
    crate::logging::init(&cli.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("kmicro: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => crate::run::run(*args).await,
            Command::Module(args) => crate::module_cmd::run(args).await,
            Command::Images(args) => crate::images_cmd::run(args).await,
            Command::Bench(BenchCommand::Store(args)) => bench::store::run(args).await,
            Command::Bench(BenchCommand::Api(args)) => bench::api::run(args).await,
            Command::Bench(BenchCommand::Modules(args)) => bench::modules::run(args).await,
            Command::Bench(BenchCommand::Pods(args)) => bench::pods::run(args).await,
            Command::CompileModule => crate::modules::compile::run_child(),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kmicro: {err:#}");
            ExitCode::FAILURE
        }
    }
}
