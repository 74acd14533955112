//! `kmicro bench store`: durable write throughput and watch latency of kmicro's store, and
//! of a real etcd through the very same [`Store`] trait when asked (`--vs etcd`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use kmicro_store::{CasOutcome, KeyRange, RedbConfig, RedbStore, Store, WatchRequest};

use super::load::closed_loop;
use super::summary::Latencies;

/// Arguments of `kmicro bench store`.
#[derive(Debug, clap::Args)]
pub struct StoreBenchArgs {
    /// The store measured.
    #[arg(long, value_enum, default_value = "redb")]
    pub backend: Backend,
    /// Also run the same workload against this peer, started for the run (etcd from PATH,
    /// durable, on loopback), and report the ratio.
    #[cfg(feature = "etcd")]
    #[arg(long, value_enum)]
    pub vs: Option<Peer>,
    /// Print one JSON object with the figures as the last line.
    #[arg(long)]
    pub json: bool,
    /// Puts in the throughput phase (each a create-if-absent transaction, as kube-apiserver
    /// writes).
    #[arg(long, default_value_t = 10_000)]
    pub puts: usize,
    /// Concurrent writers in the throughput phase.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 1024)]
    pub value_size: usize,
    /// Puts in the watch-latency phase (one at a time, each timed until a watcher sees it).
    #[arg(long, default_value_t = 1000)]
    pub watch_puts: usize,
    /// Where to keep the benchmark's data (a fresh directory is made inside); defaults to the
    /// system temp dir. Both stores use the same filesystem.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Stores `kmicro bench store` can measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// kmicro's embedded redb store.
    Redb,
    /// A real etcd, started for the run.
    #[cfg(feature = "etcd")]
    Etcd,
}

/// Peers to compare against.
#[cfg(feature = "etcd")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Peer {
    /// A real etcd (from PATH), started for the run.
    Etcd,
}

/// One store under measurement, and what keeps it alive.
struct Target {
    name: &'static str,
    store: Arc<dyn Store>,
    #[cfg(feature = "etcd")]
    _etcd: Option<kmicro_store::etcd::LocalEtcd>,
}

/// What one store scored.
#[derive(Debug)]
struct Figures {
    name: &'static str,
    writes_per_s: f64,
    put_p50_ms: f64,
    put_p99_ms: f64,
    watch_p50_ms: f64,
    watch_p99_ms: f64,
}

/// Runs the benchmark and prints its report.
pub async fn run(args: StoreBenchArgs) -> anyhow::Result<()> {
    if args.puts == 0 || args.concurrency == 0 || args.watch_puts == 0 {
        bail!("--puts, --concurrency and --watch-puts must be at least 1");
    }
    let parent = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir(),
    };
    let workdir = tempfile::Builder::new()
        .prefix("kmicro-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a directory in {}", parent.display()))?;

    let mut figures = Vec::new();
    let target = start(args.backend, workdir.path()).await?;
    figures.push(measure(&target, &args).await?);
    drop(target);
    #[cfg(feature = "etcd")]
    if let Some(Peer::Etcd) = args.vs {
        let target = start(Backend::Etcd, workdir.path()).await?;
        figures.push(measure(&target, &args).await?);
    }
    report(&args, &figures);
    Ok(())
}

async fn start(backend: Backend, dir: &std::path::Path) -> anyhow::Result<Target> {
    match backend {
        Backend::Redb => {
            let path = dir.join("redb").join("state.redb");
            let store = RedbStore::open(RedbConfig::new(&path))
                .await
                .with_context(|| format!("opening {}", path.display()))?;
            Ok(Target {
                name: "redb",
                store: Arc::new(store),
                #[cfg(feature = "etcd")]
                _etcd: None,
            })
        }
        #[cfg(feature = "etcd")]
        Backend::Etcd => {
            let etcd = kmicro_store::etcd::LocalEtcd::start_in(&dir.join("etcd"))
                .await
                .context("starting etcd")?;
            let store = kmicro_store::EtcdStore::connect(&[etcd.endpoint()])
                .await
                .context("connecting to etcd")?;
            Ok(Target {
                name: "etcd",
                store: Arc::new(store),
                _etcd: Some(etcd),
            })
        }
    }
}

async fn measure(target: &Target, args: &StoreBenchArgs) -> anyhow::Result<Figures> {
    tracing::info!(backend = target.name, "measuring durable writes");
    eprintln!(
        "{}: {} puts of {} B at concurrency {}…",
        target.name, args.puts, args.value_size, args.concurrency
    );
    let (writes_per_s, mut puts) = write_phase(target.store.clone(), args).await?;
    eprintln!("{}: {} watched puts…", target.name, args.watch_puts);
    let mut watch = watch_phase(target.store.as_ref(), args).await?;
    Ok(Figures {
        name: target.name,
        writes_per_s,
        put_p50_ms: puts.percentile_ms(50.0),
        put_p99_ms: puts.percentile_ms(99.0),
        watch_p50_ms: watch.percentile_ms(50.0),
        watch_p99_ms: watch.percentile_ms(99.0),
    })
}

/// `puts` creates from `concurrency` writers; returns writes per second and put latencies.
async fn write_phase(
    store: Arc<dyn Store>,
    args: &StoreBenchArgs,
) -> anyhow::Result<(f64, Latencies)> {
    let value: Arc<[u8]> = vec![b'x'; args.value_size].into();
    closed_loop(args.puts, args.concurrency, move |i| {
        let (store, value) = (store.clone(), value.clone());
        let key = format!("/registry/bench/{i:08}");
        async move {
            match store.create(key.as_bytes(), &value, 0).await? {
                CasOutcome::Written(_) => Ok(()),
                CasOutcome::Conflict(_) => bail!("{key} already existed"),
            }
        }
    })
    .await
}

/// Puts one key at a time while a watcher listens; returns put-to-delivery latencies.
async fn watch_phase(store: &dyn Store, args: &StoreBenchArgs) -> anyhow::Result<Latencies> {
    const PREFIX: &str = "/registry/watchbench/";
    let value = vec![b'w'; args.value_size];
    let mut watch = store
        .watch(WatchRequest::new(KeyRange::prefix(PREFIX)))
        .await
        .context("starting the watch")?;
    let sent: Vec<std::sync::OnceLock<Instant>> = (0..args.watch_puts)
        .map(|_| std::sync::OnceLock::new())
        .collect();
    let producer = async {
        for (i, slot) in sent.iter().enumerate() {
            let _ = slot.set(Instant::now());
            store
                .put(format!("{PREFIX}{i:08}").as_bytes(), &value)
                .await?;
        }
        anyhow::Ok(())
    };
    let consumer = async {
        let mut latencies = Latencies::default();
        let mut seen = 0;
        while seen < args.watch_puts {
            let resp = tokio::time::timeout(Duration::from_secs(30), watch.next())
                .await
                .context("no watch event for 30 s")?
                .context("the watch ended")??;
            let now = Instant::now();
            for event in resp.events {
                let key = String::from_utf8_lossy(&event.kv.key);
                let index: usize = key[PREFIX.len()..].parse().context("unexpected key")?;
                let sent_at = sent[index].get().context("an event before its put")?;
                latencies.push(now.duration_since(*sent_at));
                seen += 1;
            }
        }
        anyhow::Ok(latencies)
    };
    let (produced, latencies) = tokio::join!(producer, consumer);
    produced?;
    latencies
}

fn report(args: &StoreBenchArgs, figures: &[Figures]) {
    println!(
        "store benchmark: {} durable puts of {} B at concurrency {}; watch latency over {} puts",
        args.puts, args.value_size, args.concurrency, args.watch_puts
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "backend", "writes/s", "put p50", "put p99", "watch p50", "watch p99"
    );
    for f in figures {
        println!(
            "{:<8} {:>10.0} {:>8.2}ms {:>8.2}ms {:>10.2}ms {:>10.2}ms",
            f.name, f.writes_per_s, f.put_p50_ms, f.put_p99_ms, f.watch_p50_ms, f.watch_p99_ms
        );
    }
    let ratio = match figures {
        [ours, peer] => {
            let ratio = ours.writes_per_s / peer.writes_per_s;
            println!("ratio ({}/{} writes/s): {ratio:.2}", ours.name, peer.name);
            Some(ratio)
        }
        _ => None,
    };
    if args.json {
        let mut json = serde_json::Map::new();
        for f in figures {
            let mut put = |field: &str, value: f64| {
                json.insert(format!("{}_{field}", f.name), round(value).into());
            };
            put("writes_per_s", f.writes_per_s);
            put("put_p50_ms", f.put_p50_ms);
            put("put_p99_ms", f.put_p99_ms);
            put("watch_p50_ms", f.watch_p50_ms);
            put("watch_p99_ms", f.watch_p99_ms);
        }
        if let Some(ratio) = ratio {
            json.insert("ratio".into(), round(ratio).into());
        }
        json.insert("puts".into(), args.puts.into());
        json.insert("concurrency".into(), args.concurrency.into());
        json.insert("value_size".into(), args.value_size.into());
        println!("{}", serde_json::Value::Object(json));
    }
}

/// Rounds to three decimals, so the JSON stays readable.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
