//! Behaviour specific to the embedded redb backend: durability across reopen and SIGKILL,
//! refusing files that are not kmicro stores, the single-writer lock, compaction's cleanup.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kmicro_store::{KeyRange, RangeRequest, RedbConfig, RedbStore, Store, StoreError};

async fn open(path: &Path) -> Result<RedbStore, StoreError> {
    RedbStore::open(RedbConfig::new(path)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_revisions_and_leases_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let store = open(&path).await.unwrap();
    store.put(b"/a", b"1").await.unwrap();
    let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    let rev = store.put(b"/b", b"2").await.unwrap();
    store.compact(rev).await.unwrap();
    store.close().await.unwrap();

    let store = open(&path).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), rev);
    assert_eq!(store.compact_revision().await.unwrap(), rev);
    assert_eq!(store.get(b"/a").await.unwrap().unwrap().value, b"1");
    assert_eq!(
        store.lease_keep_alive(lease).await.unwrap(),
        Duration::from_secs(60)
    );
    assert_eq!(store.put(b"/c", b"3").await.unwrap(), rev + 1);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_open_of_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let first = open(&path).await.unwrap();
    match open(&path).await {
        Err(StoreError::Locked { path: p }) => assert_eq!(p, path),
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("a second open must fail"),
    }
    first.put(b"/still", b"works").await.unwrap();
    first.close().await.unwrap();
}

/// Opens `path`, expecting a `Corrupt` error that names it, and checks the file's bytes are
/// untouched.
async fn assert_refused(path: &Path, reason_contains: &str) {
    let before = std::fs::read(path).unwrap();
    assert_refused_keeping_data(path, reason_contains).await;
    assert!(
        std::fs::read(path).unwrap() == before,
        "a refused file is never modified"
    );
}

/// Opens `path`, expecting a `Corrupt` error that names it. For files that are valid redb
/// databases, redb's integrity check may rewrite the commit header, so callers check the data.
async fn assert_refused_keeping_data(path: &Path, reason_contains: &str) {
    match open(path).await {
        Err(err @ StoreError::Corrupt { .. }) => {
            let message = err.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains(reason_contains), "{message}");
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("{} must be refused", path.display()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_files_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();

    let text = dir.path().join("text.redb");
    std::fs::write(&text, "apiVersion: v1\nkind: Config\n".repeat(200)).unwrap();
    assert_refused(&text, "not a kmicro store").await;

    let noise = dir.path().join("noise.redb");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..256 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&noise, bytes).unwrap();
    assert_refused(&noise, "not a kmicro store").await;

    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign).unwrap();
        let wtx = db.begin_write().unwrap();
        {
            const OTHER: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("other");
            wtx.open_table(OTHER).unwrap().insert("k", 1).unwrap();
        }
        wtx.commit().unwrap();
    }
    assert_refused_keeping_data(&foreign, "not a kmicro store (its tables: other)").await;
    {
        const OTHER: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("other");
        let db = redb::Database::open(&foreign).unwrap();
        let rtx = redb::ReadableDatabase::begin_read(&db).unwrap();
        let table = rtx.open_table(OTHER).unwrap();
        assert_eq!(
            table.get("k").unwrap().unwrap().value(),
            1,
            "the foreign data is intact"
        );
        assert_eq!(
            rtx.list_tables().unwrap().count(),
            1,
            "no kmicro tables were added"
        );
    }

    let as_dir = dir.path().join("dir.redb");
    std::fs::create_dir(&as_dir).unwrap();
    assert!(matches!(
        open(&as_dir).await,
        Err(StoreError::Corrupt { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    open(&path).await.unwrap().close().await.unwrap();
    {
        let db = redb::Database::open(&path).unwrap();
        let wtx = db.begin_write().unwrap();
        {
            const META: redb::TableDefinition<&str, i64> =
                redb::TableDefinition::new("kmicro_meta");
            wtx.open_table(META).unwrap().insert("format", 99).unwrap();
        }
        wtx.commit().unwrap();
    }
    assert_refused_keeping_data(&path, "has store format 99").await;
    assert_refused_keeping_data(&path, "has store format 99").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_store_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let store = open(&path).await.unwrap();
    for i in 0..2000 {
        store
            .put(format!("/k/{i}").as_bytes(), &[b'v'; 512])
            .await
            .unwrap();
    }
    store.close().await.unwrap();
    let good = std::fs::read(&path).unwrap();

    // Overwrite a stretch in the middle of the data pages.
    let mut damaged = good.clone();
    let mid = damaged.len() / 2;
    for b in &mut damaged[mid..mid + 8192] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &damaged).unwrap();
    assert_refused(&path, "damaged").await;

    // Cut the file short.
    std::fs::write(&path, &good[..good.len() / 3]).unwrap();
    assert!(
        open(&path).await.is_err(),
        "a truncated store must not open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_removes_superseded_history_and_resumes_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let store = open(&path).await.unwrap();
    for i in 0..5000 {
        store
            .put(
                format!("/k/{}", i % 10).as_bytes(),
                format!("{i}").as_bytes(),
            )
            .await
            .unwrap();
    }
    let rev = store.current_revision().await.unwrap();
    assert_eq!(store.stats().await.unwrap().history_versions, 5000);
    store.compact(rev).await.unwrap();
    store.close().await.unwrap(); // may stop with compaction unfinished

    let store = open(&path).await.unwrap();
    // Compaction finishes in the background after reopen: one version per key remains, and
    // the revision log holds only the compact revision's row.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = store.stats().await.unwrap();
        if stats.history_versions == 10 && stats.log_entries == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "compaction did not finish: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = store
        .range(RangeRequest::new(KeyRange::prefix("/k/")))
        .await
        .unwrap();
    assert_eq!(now.count, 10);
    assert_eq!(now.kvs[0].value, b"4990");
    let at_compact = store
        .range(RangeRequest::new(KeyRange::prefix("/k/")).at_revision(rev))
        .await
        .unwrap();
    assert_eq!(at_compact.kvs, now.kvs);
    store.close().await.unwrap();
}

const CHILD_ENV: &str = "KMICRO_CRASH_CHILD_STORE";

/// Not a test of its own: the writer process of `acknowledged_writes_survive_sigkill`, which
/// runs it by re-executing this test binary. It writes until killed, printing `ack KEY` once
/// each write is acknowledged.
#[test]
#[ignore = "run as a child process by acknowledged_writes_survive_sigkill"]
fn crash_child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let store = Arc::new(open(Path::new(&path)).await.unwrap());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        for writer in 0..8 {
            let store = store.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("/crash/{writer}/{i}");
                    store.put(key.as_bytes(), key.as_bytes()).await.unwrap();
                    if tx.send(key).is_err() {
                        return;
                    }
                }
            });
        }
        let mut out = std::io::stdout().lock();
        while let Some(key) = rx.recv().await {
            writeln!(out, "ack {key}").unwrap();
            out.flush().unwrap();
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("state.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let pid = child.id() as libc::pid_t;
    let acked = tokio::task::spawn_blocking(move || {
        let mut acked = Vec::new();
        let started = Instant::now();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(key) = line.strip_prefix("ack ") {
                acked.push(key.to_string());
            }
            if acked.len() == 2000 || started.elapsed() > Duration::from_secs(20) {
                // Kill mid-stream: writes are in flight and more acks are buffered.
                #[allow(unsafe_code)]
                // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        acked
    })
    .await
    .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the writer must have been killed");
    assert!(
        acked.len() >= 2000,
        "the writer acknowledged only {} writes",
        acked.len()
    );

    let store = open(&path).await.expect("the store opens after SIGKILL");
    for key in &acked {
        let kv = store.get(key.as_bytes()).await.unwrap();
        assert_eq!(
            kv.map(|kv| kv.value),
            Some(key.as_bytes().to_vec()),
            "acknowledged write {key} was lost"
        );
    }
    store.close().await.unwrap();
}
