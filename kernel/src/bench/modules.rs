//! `kmicro bench modules`: the control-plane modules as a cluster sees them. Starts `kmicro run`
//! (this binary) as a child, waits for the built-in modules to run, and reports each module's
//! linear memory and the server's idle memory; then creates and scales Deployments (the
//! `controllers` module makes their ReplicaSets and pods, the `scheduler` binds the pods) while
//! swapping `controllers` again and again with its own component, timing each swap's pause;
//! finally waits for every Deployment to converge and counts those that did not ("events
//! lost": a swap must not drop what the controllers were told).

mod churn;
mod swaps;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::api::wait_ready;
use super::child::{ChildServer, Stopped, measure_child};
use super::summary::Latencies;
use crate::client::ApiClient;

/// Where Modules live in the API.
pub(crate) const MODULES: &str = "/apis/modules.kmicro.io/v1alpha1/modules";
/// The module swapped during the churn.
const SWAPPED: &str = "controllers";
/// How long the built-in modules get to be Running.
const MODULES_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the server is left idle before the idle memory reading (longer than the server's
/// once-a-second heap trim and its two-second module status writes).
const SETTLE: Duration = Duration::from_secs(3);

/// Arguments of `kmicro bench modules`.
#[derive(Debug, clap::Args)]
pub struct ModulesBenchArgs {
    /// Print one JSON object with the figures as the last line.
    #[arg(long)]
    pub json: bool,
    /// Deployments created (at 1 replica) and scaled 3 → 2 (repeatedly, while swaps go on).
    #[arg(long, default_value_t = 20)]
    pub deployments: usize,
    /// Hot swaps of `controllers` during the churn.
    #[arg(long, default_value_t = 10)]
    pub swaps: usize,
    /// How long the Deployments get to converge after the churn, in seconds.
    #[arg(long, default_value_t = 120)]
    pub converge_timeout: u64,
    /// Where the server's temp data dir is made; defaults to the system temp dir.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The server's `--datastore-cache-mib` (its store's page cache).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub datastore_cache_mib: u16,
}

/// What the run measured.
#[derive(Debug, Default)]
struct Figures {
    pid: u32,
    modules_running_s: f64,
    module_memory_bytes: BTreeMap<String, u64>,
    idle_rss_mib: f64,
    swap_pauses: Vec<Duration>,
    swap_p50_us: f64,
    swap_p99_us: f64,
    swap_max_us: f64,
    swap_wall_p50_ms: f64,
    scale_ops: usize,
    churn_s: f64,
    converge_s: f64,
    events_lost: usize,
    lost: Vec<String>,
    after_rss_mib: f64,
    peak_rss_mib: f64,
}

/// Runs the benchmark and prints its report; fails if any Deployment did not converge.
pub async fn run(args: ModulesBenchArgs) -> anyhow::Result<()> {
    if args.deployments == 0 {
        bail!("--deployments must be at least 1");
    }
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let (figures, stopped) = measure_child(&parent, args.datastore_cache_mib, async |server| {
        measure(server, &args).await
    })
    .await?;
    report(&args, &figures, stopped);
    if figures.events_lost > 0 {
        bail!(
            "{} of {} Deployments did not converge:\n{}",
            figures.events_lost,
            args.deployments,
            figures.lost.join("\n")
        );
    }
    Ok(())
}

async fn measure(server: &mut ChildServer, args: &ModulesBenchArgs) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let (_, client) = wait_ready(server).await?;
    let mut figures = Figures {
        pid: server.pid(),
        ..Figures::default()
    };
    let builtins: Vec<&str> = kmicro_builtin_modules::all()
        .iter()
        .map(|m| m.name)
        .collect();
    if !builtins.contains(&SWAPPED) {
        bail!("this kmicro has no built-in {SWAPPED} module to swap");
    }
    eprintln!(
        "waiting for the built-in modules ({}) …",
        builtins.join(", ")
    );
    wait_running(server, &client, &builtins).await?;
    figures.modules_running_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    figures.idle_rss_mib = server.rss_mib()?;
    figures.module_memory_bytes = module_memory(&client).await?;

    let component = client
        .call(Method::GET, &format!("{MODULES}/{SWAPPED}/source"), None)
        .await?
        .expect(StatusCode::OK, &format!("exporting module {SWAPPED}"))?;
    eprintln!(
        "{} Deployments created and scaled while {SWAPPED} ({} KiB) is swapped {} times …",
        args.deployments,
        component.len() / 1024,
        args.swaps
    );
    let churn_started = Instant::now();
    let (scale_ops, swapped) = churn::run(&client, args.deployments, async {
        swaps::run(&client, SWAPPED, component, args.swaps).await
    })
    .await?;
    figures.churn_s = churn_started.elapsed().as_secs_f64();
    figures.scale_ops = scale_ops;
    server.check_alive()?;
    let mut pauses = Latencies::default();
    let mut walls = Latencies::default();
    for swap in &swapped {
        pauses.push(swap.pause);
        walls.push(swap.wall);
        figures.swap_pauses.push(swap.pause);
    }
    figures.swap_p50_us = pauses.percentile_ms(50.0) * 1000.0;
    figures.swap_p99_us = pauses.percentile_ms(99.0) * 1000.0;
    figures.swap_max_us = pauses.percentile_ms(100.0) * 1000.0;
    figures.swap_wall_p50_ms = walls.percentile_ms(50.0);

    eprintln!("waiting for the Deployments to converge …");
    let converge_started = Instant::now();
    let lost = churn::converge(
        &client,
        args.deployments,
        Duration::from_secs(args.converge_timeout),
    )
    .await?;
    figures.converge_s = converge_started.elapsed().as_secs_f64();
    figures.events_lost = lost.len();
    figures.lost = lost;
    server.check_alive()?;
    tokio::time::sleep(SETTLE).await;
    figures.after_rss_mib = server.rss_mib()?;
    figures.peak_rss_mib = server.peak_rss_mib()?;
    Ok(figures)
}

/// Waits until every module in `names` is `Running`.
async fn wait_running(
    server: &mut ChildServer,
    client: &ApiClient,
    names: &[&str],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + MODULES_TIMEOUT;
    loop {
        server.check_alive()?;
        let modules = list_modules(client).await?;
        let phases: BTreeMap<&str, &str> = modules
            .iter()
            .filter_map(|m| {
                Some((
                    m["metadata"]["name"].as_str()?,
                    m["status"]["phase"].as_str().unwrap_or("Pending"),
                ))
            })
            .collect();
        if names
            .iter()
            .all(|name| phases.get(name) == Some(&"Running"))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the built-in modules were not Running after {MODULES_TIMEOUT:?}: {phases:?}; \
                 the server's log ends:\n{}",
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn list_modules(client: &ApiClient) -> anyhow::Result<Vec<Value>> {
    let body = client
        .call(Method::GET, MODULES, None)
        .await?
        .expect(StatusCode::OK, "listing the modules")?;
    let list: Value = serde_json::from_slice(&body).context("the module list is not JSON")?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// `status.memoryBytes` of every loaded module.
async fn module_memory(client: &ApiClient) -> anyhow::Result<BTreeMap<String, u64>> {
    Ok(list_modules(client)
        .await?
        .iter()
        .filter_map(|m| {
            Some((
                m["metadata"]["name"].as_str()?.to_string(),
                m["status"]["memoryBytes"].as_u64()?,
            ))
        })
        .collect())
}

fn report(args: &ModulesBenchArgs, f: &Figures, stopped: Stopped) {
    println!(
        "modules benchmark: kmicro run (pid {}); {} Deployments created and scaled ({} scale \
         operations) while {SWAPPED} was swapped {} times",
        f.pid,
        args.deployments,
        f.scale_ops,
        f.swap_pauses.len()
    );
    println!(
        "built-in modules Running {:.2} s after the start",
        f.modules_running_s
    );
    for (name, bytes) in &f.module_memory_bytes {
        println!(
            "module {name:<12} linear memory {:>8.2} MiB",
            *bytes as f64 / 1048576.0
        );
    }
    println!(
        "swap pause (µs): p50 {:.0}, p99 {:.0}, max {:.0}; request to running p50 {:.0} ms",
        f.swap_p50_us, f.swap_p99_us, f.swap_max_us, f.swap_wall_p50_ms
    );
    println!(
        "churn {:.1} s, converged in {:.1} s; events lost: {}",
        f.churn_s, f.converge_s, f.events_lost
    );
    println!(
        "memory (RSS, MiB): idle with all modules loaded {:.1}, after the churn {:.1}, peak {:.1}",
        f.idle_rss_mib, f.after_rss_mib, f.peak_rss_mib
    );
    println!(
        "stop: {} after {:.0} ms",
        if stopped.killed {
            "killed"
        } else {
            "exited on SIGTERM"
        },
        stopped.elapsed.as_secs_f64() * 1000.0
    );
    if args.json {
        let json = json!({
            "swap_pause_p50_us": round(f.swap_p50_us),
            "swap_pause_p99_us": round(f.swap_p99_us),
            "swap_pause_max_us": round(f.swap_max_us),
            "swap_wall_p50_ms": round(f.swap_wall_p50_ms),
            "swaps": f.swap_pauses.len(),
            "events_lost": f.events_lost,
            "deployments": args.deployments,
            "scale_ops": f.scale_ops,
            "churn_s": round(f.churn_s),
            "converge_s": round(f.converge_s),
            "modules_running_s": round(f.modules_running_s),
            "module_memory_bytes": f.module_memory_bytes,
            "idle_rss_mib": round(f.idle_rss_mib),
            "after_rss_mib": round(f.after_rss_mib),
            "peak_rss_mib": round(f.peak_rss_mib),
            "stop_ms": round(stopped.elapsed.as_secs_f64() * 1000.0),
            "stop_killed": stopped.killed,
        });
        println!("{json}");
    }
}

/// Rounds to three decimals, so the JSON stays readable.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
