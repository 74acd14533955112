//! Writer and reader together, through real pipes and files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use kmicro_cri_logs::{
    LogConfig, LogStream, LogWriter, ReadOptions, Stream, read_logs, rotated_files,
};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;

const LIMIT: Duration = Duration::from_secs(20);

struct Container {
    stdout: pipe::Sender,
    stderr: pipe::Sender,
    writer: LogWriter,
}

fn start(path: &Path, config: LogConfig) -> Container {
    let (stdout, stdout_reader) = pipe::pipe().unwrap();
    let (stderr, stderr_reader) = pipe::pipe().unwrap();
    let writer = LogWriter::spawn(path, stdout_reader, stderr_reader, config).unwrap();
    Container {
        stdout,
        stderr,
        writer,
    }
}

impl Container {
    async fn out(&mut self, text: &str) {
        self.stdout.write_all(text.as_bytes()).await.unwrap();
    }

    async fn err(&mut self, text: &str) {
        self.stderr.write_all(text.as_bytes()).await.unwrap();
    }

    /// Closes both streams and waits for the writer.
    async fn exit(self) -> kmicro_cri_logs::WriteStats {
        drop(self.stdout);
        drop(self.stderr);
        tokio::time::timeout(LIMIT, self.writer.wait())
            .await
            .unwrap()
    }
}

async fn collect(stream: LogStream) -> String {
    let chunks: Vec<_> = tokio::time::timeout(LIMIT, stream.collect::<Vec<_>>())
        .await
        .expect("the log stream ends");
    let mut text = Vec::new();
    for chunk in chunks {
        text.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(text).unwrap()
}

async fn read_all(path: &Path, options: ReadOptions) -> String {
    collect(read_logs(path, options, None)).await
}

fn log_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("default_web_0123/app/0.log")
}

/// Waits until the file holds `records` lines.
async fn wait_for_records(path: &Path, records: usize) {
    tokio::time::timeout(LIMIT, async {
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.lines().count() >= records {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("records written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_in_the_cri_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let mut container = start(&path, LogConfig::default());
    container.out("hello\nworld\r\n").await;
    wait_for_records(&path, 2).await;
    container.err("oops\n").await;
    wait_for_records(&path, 3).await;
    container.out("\nno newline at the end").await;
    let stats = container.exit().await;
    assert_eq!(stats.records, 5);
    assert_eq!(stats.rotations, 0);

    let file = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = file.lines().collect();
    let mut previous: Option<Timestamp> = None;
    let mut expected = [
        ("stdout", "F", "hello"),
        ("stdout", "F", "world"),
        ("stderr", "F", "oops"),
        ("stdout", "F", ""),
        ("stdout", "F", "no newline at the end"),
    ]
    .into_iter();
    for line in &lines {
        let mut parts = line.splitn(4, ' ');
        let time = parts.next().unwrap();
        assert_eq!(time.len(), 30, "nine fractional digits: {time}");
        assert!(time.ends_with('Z'));
        let time: Timestamp = time.parse().unwrap();
        assert!(previous.is_none_or(|p| p <= time), "records in time order");
        previous = Some(time);
        let (stream, tag, content) = expected.next().unwrap();
        assert_eq!(parts.next(), Some(stream));
        assert_eq!(parts.next(), Some(tag));
        assert_eq!(parts.next(), Some(content));
    }
    assert_eq!(
        read_all(&path, ReadOptions::default()).await,
        "hello\nworld\noops\n\nno newline at the end\n"
    );
    let stderr_only = ReadOptions {
        stream: Some(Stream::Stderr),
        ..ReadOptions::default()
    };
    assert_eq!(read_all(&path, stderr_only).await, "oops\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lines_become_partial_records_and_are_joined() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let mut container = start(&path, LogConfig::default());
    let long: String = (0..40 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    container.out(&long).await;
    container.out("\nshort\n").await;
    container.exit().await;

    let file = std::fs::read_to_string(&path).unwrap();
    let tags: Vec<(&str, usize)> = file
        .lines()
        .map(|l| {
            let mut parts = l.splitn(4, ' ');
            parts.next();
            parts.next();
            (parts.next().unwrap(), parts.next().unwrap().len())
        })
        .collect();
    assert_eq!(
        tags,
        [
            ("P", 16384),
            ("P", 16384),
            ("F", 40 * 1024 - 2 * 16384),
            ("F", 5)
        ]
    );
    let text = read_all(&path, ReadOptions::default()).await;
    assert_eq!(text, format!("{long}\nshort\n"));
    let with_times = read_all(
        &path,
        ReadOptions {
            timestamps: true,
            ..ReadOptions::default()
        },
    )
    .await;
    let first = with_times.lines().next().unwrap();
    let (time, content) = first.split_once(' ').unwrap();
    time.parse::<Timestamp>().expect("an RFC 3339 time");
    assert_eq!(content, long, "one time per joined line");
}

/// Writes `count` numbered lines of 40 bytes, in batches so that rotations happen between.
async fn numbered(container: &mut Container, from: usize, count: usize) {
    for i in from..from + count {
        container
            .out(&format!("line {i:05} {}\n", "x".repeat(28)))
            .await;
        if i % 16 == 0 {
            tokio::task::yield_now().await;
        }
    }
}

fn numbers(text: &str) -> Vec<usize> {
    text.lines()
        .map(|l| l[5..10].parse::<usize>().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_max_files_and_reading_spans_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let config = LogConfig {
        max_size: 1024,
        max_files: 3,
        ..LogConfig::default()
    };
    let mut container = start(&path, config);
    numbered(&mut container, 0, 300).await;
    let stats = container.exit().await;
    assert!(stats.rotations >= 10, "{stats:?}");

    let rotated = rotated_files(&path).unwrap();
    assert_eq!(rotated.len(), 2, "max_files counts the current file");
    for file in rotated.iter().chain([&path]) {
        let size = std::fs::metadata(file).unwrap().len();
        assert!(size <= 1024, "{} is {size} bytes", file.display());
    }
    let all = numbers(&read_all(&path, ReadOptions::default()).await);
    assert_eq!(*all.last().unwrap(), 299);
    assert!(
        all.windows(2).all(|w| w[1] == w[0] + 1),
        "rotated files are read oldest first: {all:?}"
    );
    assert!(all.len() > 30, "three files hold more than 30 lines");

    // Tail across files: the last 30 lines, whichever files hold them.
    let current_lines = std::fs::read_to_string(&path).unwrap().lines().count();
    assert!(current_lines < 30, "the tail must reach into rotated files");
    let tail = ReadOptions {
        tail_lines: Some(30),
        ..ReadOptions::default()
    };
    assert_eq!(
        numbers(&read_all(&path, tail).await),
        (270..300).collect::<Vec<_>>()
    );
    let none = ReadOptions {
        tail_lines: Some(0),
        ..ReadOptions::default()
    };
    assert_eq!(read_all(&path, none).await, "");
    let limited = ReadOptions {
        tail_lines: Some(2),
        limit_bytes: Some(45),
        ..ReadOptions::default()
    };
    let text = read_all(&path, limited).await;
    assert_eq!(text.len(), 45);
    assert!(text.starts_with("line 00298 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let mut container = start(&path, LogConfig::default());
    container.out("before\n").await;
    wait_for_records(&path, 1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    container.err("after\n").await;
    container.exit().await;

    let options = ReadOptions {
        since: Some(since),
        timestamps: true,
        ..ReadOptions::default()
    };
    let text = read_all(&path, options).await;
    let (time, content) = text.split_once(' ').unwrap();
    assert_eq!(content, "after\n");
    let time: Timestamp = time.parse().unwrap();
    assert!(time >= since);
    // From a query, as kubectl sends it.
    let query = "sinceSeconds=3600&timestamps=false";
    let options = ReadOptions::from_query(query, Timestamp::now()).unwrap();
    assert_eq!(read_all(&path, options).await, "before\nafter\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_sees_later_lines_and_rotations_and_ends_with_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    // Several rotations, but files enough that none is deleted before it is read even when
    // the follower is slowed down by a loaded machine (a follower that falls behind loses what
    // rotation deletes, as in kubelet).
    let config = LogConfig {
        max_size: 2048,
        max_files: 32,
        ..LogConfig::default()
    };
    let mut container = start(&path, config);
    numbered(&mut container, 0, 10).await;
    wait_for_records(&path, 10).await;
    let options = ReadOptions {
        follow: true,
        tail_lines: Some(3),
        ..ReadOptions::default()
    };
    let mut stream = read_logs(&path, options, Some(container.writer.follow()));
    let mut seen = String::new();
    // The tail first.
    while numbers(&seen).len() < 3 {
        let chunk = tokio::time::timeout(LIMIT, stream.next())
            .await
            .unwrap()
            .unwrap();
        seen.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert_eq!(numbers(&seen), [7, 8, 9]);
    // Then lines written while the follower reads (as kubectl does), across rotations. A
    // follower that stops reading loses what rotation deletes meanwhile, as in kubelet.
    let follower = tokio::spawn(async move {
        while numbers(&seen).last() != Some(&209) {
            let chunk = tokio::time::timeout(LIMIT, stream.next())
                .await
                .unwrap()
                .unwrap();
            seen.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
        (seen, stream)
    });
    for batch in 0..10 {
        numbered(&mut container, 10 + batch * 20, 20).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (seen, stream) = follower.await.unwrap();
    assert_eq!(
        numbers(&seen),
        (7..210).collect::<Vec<_>>(),
        "nothing lost or repeated across rotations"
    );
    container.out("last words\n").await;
    let stats = container.exit().await;
    assert!(stats.rotations >= 3, "{stats:?}");
    let rest = collect(stream).await;
    assert_eq!(
        rest, "last words\n",
        "the stream ends once the writer is done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_without_a_writer_reads_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let mut container = start(&path, LogConfig::default());
    container.out("done\n").await;
    container.exit().await;
    let options = ReadOptions {
        follow: true,
        ..ReadOptions::default()
    };
    assert_eq!(collect(read_logs(&path, options, None)).await, "done\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_writer_appends_to_the_same_file() {
    // After a kmicro restart the agent adopts the container and writes on.
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let mut first = start(&path, LogConfig::default());
    first.out("one\n").await;
    first.exit().await;
    let mut second = start(&path, LogConfig::default());
    second.out("two\n").await;
    second.exit().await;
    assert_eq!(read_all(&path, ReadOptions::default()).await, "one\ntwo\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_stops_a_follower() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let mut container = start(&path, LogConfig::default());
    container.out("x\n").await;
    wait_for_records(&path, 1).await;
    let options = ReadOptions {
        follow: true,
        ..ReadOptions::default()
    };
    let follow = container.writer.follow();
    let mut stream = read_logs(&path, options, Some(follow.clone()));
    let first = tokio::time::timeout(LIMIT, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"x\n");
    drop(stream);
    // The writer keeps going regardless.
    container.out("y\n").await;
    container.exit().await;
    assert_eq!(read_all(&path, ReadOptions::default()).await, "x\ny\n");
}
