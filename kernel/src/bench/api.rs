//! `kmicro bench api`: the API server as a client sees it. Starts `kmicro run` (this binary)
//! as a child process and measures, through its real HTTPS API over HTTP/2: memory at idle,
//! ConfigMap creates, full lists, and the latency of watch events fanned out to many watchers;
//! then memory under that load.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::child::{ChildServer, Stopped, measure_child};
use super::load::closed_loop;
use super::summary::Latencies;
use crate::client::{ApiClient, Kubeconfig, Lines};

/// Where the benchmark's objects live.
const COLLECTION: &str = "/api/v1/namespaces/default/configmaps";
/// Names of the created objects: `bench-000000`, …
const PREFIX: &str = "bench-";
/// Watch streams per HTTP/2 connection (kmicro's server allows 200 concurrent streams on one).
const WATCHES_PER_CONNECTION: usize = 100;
/// How long `kmicro run` gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server is left idle before the idle and settled memory readings (longer than
/// the server's once-a-second heap trim).
const SETTLE: Duration = Duration::from_secs(2);
/// The longest wait for any one watch event before the run fails.
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Arguments of `kmicro bench api`.
#[derive(Debug, clap::Args)]
pub struct ApiBenchArgs {
    /// Print one JSON object with the figures as the last line.
    #[arg(long)]
    pub json: bool,
    /// ConfigMaps created (and then listed).
    #[arg(long, default_value_t = 5000)]
    pub objects: usize,
    /// Concurrent create requests.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Bytes of data in each ConfigMap.
    #[arg(long, default_value_t = 1024)]
    pub value_size: usize,
    /// Full lists of all the objects, one at a time.
    #[arg(long, default_value_t = 20)]
    pub lists: usize,
    /// Concurrent watches on the namespace's ConfigMaps.
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Updates made one at a time while the watchers listen; each is timed until every
    /// watcher has it.
    #[arg(long, default_value_t = 200)]
    pub watch_writes: usize,
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
    idle_rss_mib: f64,
    created_rss_mib: f64,
    listed_rss_mib: f64,
    settled_rss_mib: f64,
    creates_per_s: f64,
    create_p50_ms: f64,
    create_p99_ms: f64,
    list_p50_ms: f64,
    list_p99_ms: f64,
    list_bytes: usize,
    watch_p50_ms: f64,
    watch_p99_ms: f64,
    watch_events: usize,
    loaded_rss_mib: f64,
    peak_rss_mib: f64,
}

/// Runs the benchmark and prints its report.
pub async fn run(args: ApiBenchArgs) -> anyhow::Result<()> {
    check(&args)?;
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    // Every client connection is closed when `measure` returns, so the server has no open
    // watch holding up its graceful shutdown.
    let (figures, stopped) = measure_child(&parent, args.datastore_cache_mib, async |server| {
        measure(server, &args).await
    })
    .await?;
    if stopped.killed {
        eprintln!(
            "warning: kmicro run did not exit within {:.0?} of SIGTERM and was killed",
            stopped.elapsed
        );
    }
    report(&args, &figures, stopped);
    Ok(())
}

fn check(args: &ApiBenchArgs) -> anyhow::Result<()> {
    for (flag, value) in [
        ("--objects", args.objects),
        ("--concurrency", args.concurrency),
        ("--lists", args.lists),
        ("--watchers", args.watchers),
        ("--watch-writes", args.watch_writes),
    ] {
        if value == 0 {
            bail!("{flag} must be at least 1");
        }
    }
    Ok(())
}

async fn measure(server: &mut ChildServer, args: &ApiBenchArgs) -> anyhow::Result<Figures> {
    let (kubeconfig, client) = wait_ready(server).await?;
    let mut figures = Figures {
        pid: server.pid(),
        ..Figures::default()
    };
    tokio::time::sleep(SETTLE).await;
    figures.idle_rss_mib = server.rss_mib()?;

    eprintln!(
        "creating {} ConfigMaps of {} B at concurrency {}…",
        args.objects, args.value_size, args.concurrency
    );
    let (creates_per_s, mut creates) = create_phase(&client, args).await?;
    figures.creates_per_s = creates_per_s;
    figures.create_p50_ms = creates.percentile_ms(50.0);
    figures.create_p99_ms = creates.percentile_ms(99.0);
    server.check_alive()?;
    figures.created_rss_mib = server.rss_mib()?;

    eprintln!("listing them {} times…", args.lists);
    let (mut lists, list_bytes, revision) = list_phase(&client, args).await?;
    figures.list_p50_ms = lists.percentile_ms(50.0);
    figures.list_p99_ms = lists.percentile_ms(99.0);
    figures.list_bytes = list_bytes;
    server.check_alive()?;
    figures.listed_rss_mib = server.rss_mib()?;
    // Settled: the same, once the server has been idle a moment (freed heap handed back).
    tokio::time::sleep(SETTLE).await;
    figures.settled_rss_mib = server.rss_mib()?;

    eprintln!(
        "{} watchers from resourceVersion {revision}, {} updates…",
        args.watchers, args.watch_writes
    );
    let (mut watches, open_watches) = watch_phase(&kubeconfig, &client, args, &revision).await?;
    figures.watch_p50_ms = watches.percentile_ms(50.0);
    figures.watch_p99_ms = watches.percentile_ms(99.0);
    figures.watch_events = args.watchers * args.watch_writes;
    // Loaded: every object stored and listed, the watches still open.
    figures.loaded_rss_mib = server.rss_mib()?;
    figures.peak_rss_mib = server.peak_rss_mib()?;
    drop(open_watches);
    Ok(figures)
}

/// Waits until the child has written its kubeconfig and `/readyz` answers 200; returns the
/// kubeconfig and a connected client.
pub(super) async fn wait_ready(
    server: &mut ChildServer,
) -> anyhow::Result<(Kubeconfig, ApiClient)> {
    let path = server.kubeconfig();
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last_error = None;
    loop {
        server.check_alive()?;
        if path.exists() {
            match ready_client(&path).await {
                Ok(ready) => return Ok(ready),
                Err(err) => last_error = Some(err),
            }
        }
        if Instant::now() > deadline {
            let why = last_error.map_or_else(
                || format!("{} was never written", path.display()),
                |err| format!("{err:#}"),
            );
            bail!(
                "kmicro run was not ready after {READY_TIMEOUT:?}: {why}; its log ends:\n{}",
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready_client(path: &std::path::Path) -> anyhow::Result<(Kubeconfig, ApiClient)> {
    let kubeconfig = Kubeconfig::read(path)?;
    let client = ApiClient::connect(&kubeconfig).await?;
    client
        .call(Method::GET, "/readyz", None)
        .await?
        .expect(StatusCode::OK, "/readyz")?;
    Ok((kubeconfig, client))
}

fn object_name(i: usize) -> String {
    format!("{PREFIX}{i:06}")
}

/// `objects` creates from `concurrency` tasks sharing one connection; returns creates per
/// second and their latencies.
async fn create_phase(client: &ApiClient, args: &ApiBenchArgs) -> anyhow::Result<(f64, Latencies)> {
    let value: Arc<str> = "x".repeat(args.value_size).into();
    let client = client.clone();
    closed_loop(args.objects, args.concurrency, move |i| {
        let client = client.clone();
        let name = object_name(i);
        let body = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"value": &*value},
        });
        let body = serde_json::to_vec(&body).map(Bytes::from);
        async move {
            let answer = client.call(Method::POST, COLLECTION, Some(body?)).await?;
            answer.expect(StatusCode::CREATED, &format!("creating {name}"))?;
            Ok(())
        }
    })
    .await
}

/// `lists` full lists, one at a time, each checked to hold every object; returns their
/// latencies (until the last byte), the size of one answer, and the last resourceVersion.
async fn list_phase(
    client: &ApiClient,
    args: &ApiBenchArgs,
) -> anyhow::Result<(Latencies, usize, String)> {
    let mut latencies = Latencies::default();
    let (mut bytes, mut revision) = (0, String::new());
    for _ in 0..args.lists {
        let t = Instant::now();
        let answer = client.call(Method::GET, COLLECTION, None).await?;
        let elapsed = t.elapsed();
        let body = answer.expect(StatusCode::OK, "listing the ConfigMaps")?;
        latencies.push(elapsed);
        bytes = body.len();
        let list: Value = serde_json::from_slice(&body).context("the list is not JSON")?;
        let ours = list["items"]
            .as_array()
            .context("the list has no items")?
            .iter()
            .filter(|item| {
                item["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(PREFIX))
            })
            .count();
        if ours != args.objects {
            bail!(
                "a list returned {ours} of the {} ConfigMaps created",
                args.objects
            );
        }
        revision = list["metadata"]["resourceVersion"]
            .as_str()
            .context("the list has no resourceVersion")?
            .to_string();
    }
    Ok((latencies, bytes, revision))
}

/// Watch streams kept open until dropped.
struct OpenWatches {
    _bodies: Vec<Incoming>,
    _clients: Vec<ApiClient>,
}

/// Opens `watchers` watches from `revision`, then updates one object `watch_writes` times, one
/// at a time; every watcher must see every update, in order. Returns the write-to-delivery
/// latency of every (watcher, update) pair, and the still-open watches.
async fn watch_phase(
    kubeconfig: &Kubeconfig,
    client: &ApiClient,
    args: &ApiBenchArgs,
    revision: &str,
) -> anyhow::Result<(Latencies, OpenWatches)> {
    let connections = args.watchers.div_ceil(WATCHES_PER_CONNECTION);
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(ApiClient::connect(kubeconfig).await?);
    }
    let path = format!("{COLLECTION}?watch=1&resourceVersion={revision}");
    let mut streams = Vec::with_capacity(args.watchers);
    for w in 0..args.watchers {
        let response = clients[w / WATCHES_PER_CONNECTION]
            .send(Method::GET, &path, None)
            .await?;
        if response.status() != StatusCode::OK {
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            bail!(
                "watch {w}: expected 200, got {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        streams.push(response.into_body());
    }

    let target = object_name(0);
    let sent: Arc<[OnceLock<Instant>]> = (0..args.watch_writes).map(|_| OnceLock::new()).collect();
    let watchers: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(w, body)| {
            let (sent, target) = (sent.clone(), target.clone());
            tokio::spawn(async move { watch_one(w, body, &target, &sent).await })
        })
        .collect();

    let value = "w".repeat(args.value_size);
    let path = format!("{COLLECTION}/{target}");
    let mut resource_version: Option<String> = None;
    for (seq, slot) in sent.iter().enumerate() {
        let mut metadata = json!({"name": target});
        if let Some(rv) = &resource_version {
            metadata["resourceVersion"] = rv.clone().into();
        }
        let body = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": {"value": value, "seq": seq.to_string()},
        });
        let body = Bytes::from(serde_json::to_vec(&body)?);
        let _ = slot.set(Instant::now());
        let answer = client.call(Method::PUT, &path, Some(body)).await?;
        let body = answer.expect(StatusCode::OK, &format!("update {seq} of {target}"))?;
        let updated: Value = serde_json::from_slice(&body).context("the update's answer")?;
        resource_version = updated["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_string);
    }

    let mut all = Latencies::default();
    let mut bodies = Vec::with_capacity(args.watchers);
    let mut failures = Vec::new();
    for (w, watcher) in watchers.into_iter().enumerate() {
        match watcher.await.context("a watch task failed")? {
            Ok((latencies, body)) => {
                all.extend(latencies);
                bodies.push(body);
            }
            Err(err) => failures.push(format!("watcher {w}: {err:#}")),
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} watchers did not get all {} events:\n{}",
            failures.len(),
            args.watchers,
            args.watch_writes,
            failures.join("\n")
        );
    }
    Ok((
        all,
        OpenWatches {
            _bodies: bodies,
            _clients: clients,
        },
    ))
}

/// Reads one watch until it has seen every update of `target`, in order; returns the
/// latencies and the (still open) body.
async fn watch_one(
    w: usize,
    mut body: Incoming,
    target: &str,
    sent: &[OnceLock<Instant>],
) -> anyhow::Result<(Latencies, Incoming)> {
    let mut latencies = Latencies::default();
    let mut lines = Lines::default();
    let mut next = 0;
    while next < sent.len() {
        let frame = tokio::time::timeout(EVENT_TIMEOUT, body.frame())
            .await
            .with_context(|| format!("got {next} events, then none for {EVENT_TIMEOUT:?}"))?
            .with_context(|| format!("the stream ended after {next} events"))?
            .with_context(|| format!("the stream failed after {next} events"))?;
        let arrived = Instant::now();
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        for line in lines.push(&chunk) {
            let event: Value = serde_json::from_slice(&line)
                .with_context(|| format!("watch {w}: an event is not JSON"))?;
            let object = &event["object"];
            match event["type"].as_str() {
                Some("MODIFIED") => {}
                Some("BOOKMARK") => continue,
                Some("ERROR") => bail!(
                    "an ERROR event after {next} events: {}",
                    object["message"].as_str().unwrap_or("(no message)")
                ),
                other => bail!("an unexpected {other:?} event after {next} events"),
            }
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            if name != target {
                bail!("an event for {name:?}, which nobody changed");
            }
            let seq: usize = object["data"]["seq"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .context("an update without its sequence number")?;
            if seq != next {
                bail!("update {seq} arrived when {next} was due");
            }
            let started = sent[seq].get().context("an event before its update")?;
            latencies.push(arrived.duration_since(*started));
            next += 1;
        }
    }
    Ok((latencies, body))
}

fn report(args: &ApiBenchArgs, f: &Figures, stopped: Stopped) {
    println!(
        "API benchmark: kmicro run (pid {}) over HTTPS, HTTP/2; {} ConfigMaps of {} B created \
         at concurrency {}, listed {} times; {} watchers × {} updates",
        f.pid,
        args.objects,
        args.value_size,
        args.concurrency,
        args.lists,
        args.watchers,
        args.watch_writes
    );
    println!(
        "{:<8} {:>18} {:>10} {:>10}",
        "phase", "rate / size", "p50", "p99"
    );
    println!(
        "{:<8} {:>16.0}/s {:>8.2}ms {:>8.2}ms",
        "create", f.creates_per_s, f.create_p50_ms, f.create_p99_ms
    );
    println!(
        "{:<8} {:>16.2}MB {:>8.2}ms {:>8.2}ms",
        "list",
        f.list_bytes as f64 / 1e6,
        f.list_p50_ms,
        f.list_p99_ms
    );
    println!(
        "{:<8} {:>11} events {:>8.2}ms {:>8.2}ms",
        "watch", f.watch_events, f.watch_p50_ms, f.watch_p99_ms
    );
    let delta = f.loaded_rss_mib - f.idle_rss_mib;
    println!(
        "memory (RSS, MiB): idle {:.1}, after creates {:.1}, after lists {:.1} \
         (settled {:.1}, store cache ≤ {} MiB), loaded (watches open) {:.1} ({delta:+.1}), peak {:.1}",
        f.idle_rss_mib,
        f.created_rss_mib,
        f.listed_rss_mib,
        f.settled_rss_mib,
        args.datastore_cache_mib,
        f.loaded_rss_mib,
        f.peak_rss_mib
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
            "creates_per_s": round(f.creates_per_s),
            "create_p50_ms": round(f.create_p50_ms),
            "create_p99_ms": round(f.create_p99_ms),
            "list_p50_ms": round(f.list_p50_ms),
            "list_p99_ms": round(f.list_p99_ms),
            "list_bytes": f.list_bytes,
            "watch_p50_ms": round(f.watch_p50_ms),
            "watch_p99_ms": round(f.watch_p99_ms),
            "watch_events": f.watch_events,
            "idle_rss_mib": round(f.idle_rss_mib),
            "created_rss_mib": round(f.created_rss_mib),
            "listed_rss_mib": round(f.listed_rss_mib),
            "settled_rss_mib": round(f.settled_rss_mib),
            "datastore_cache_mib": args.datastore_cache_mib,
            "loaded_rss_mib": round(f.loaded_rss_mib),
            "rss_delta_mib": round(delta),
            "peak_rss_mib": round(f.peak_rss_mib),
            "stop_ms": round(stopped.elapsed.as_secs_f64() * 1000.0),
            "stop_killed": stopped.killed,
            "objects": args.objects,
            "concurrency": args.concurrency,
            "value_size": args.value_size,
            "lists": args.lists,
            "watchers": args.watchers,
            "watch_writes": args.watch_writes,
        });
        println!("{json}");
    }
}

/// Rounds to three decimals, so the JSON stays readable.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
