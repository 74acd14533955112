//! Finding where the last N lines start, reading the files backwards.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::format::{Stream, Tag, parse_record};

const BLOCK: u64 = 64 * 1024;

/// Where reading must start (file index, byte offset) so that the last `lines` complete lines
/// (`F` records, of `stream` only when given) of `files` (open, oldest first) are read. Bytes
/// after the last newline (a record being written) are not counted.
pub(crate) fn tail_start(
    files: &[File],
    lines: u64,
    stream: Option<Stream>,
) -> io::Result<(usize, u64)> {
    let mut counted = 0;
    for (index, file) in files.iter().enumerate().rev() {
        if let Some(offset) = scan_back(file, lines, stream, &mut counted)? {
            return Ok((index, offset));
        }
    }
    Ok((0, 0))
}

/// Counts `F` records from the end of one file; the end offset of the one past `lines`.
fn scan_back(
    file: &File,
    lines: u64,
    stream: Option<Stream>,
    counted: &mut u64,
) -> io::Result<Option<u64>> {
    let mut position = file.metadata()?.len();
    // The bytes [position, position + buffer.len()) not yet split into records.
    let mut buffer: Vec<u8> = Vec::new();
    let mut end_found = false;
    while position > 0 {
        let start = position.saturating_sub(BLOCK);
        let mut block = vec![0u8; usize::try_from(position - start).unwrap_or(0)];
        file.read_exact_at(&mut block, start)?;
        block.extend_from_slice(&buffer);
        buffer = block;
        position = start;
        if !end_found {
            match buffer.iter().rposition(|&b| b == b'\n') {
                Some(last) => {
                    buffer.truncate(last + 1);
                    end_found = true;
                }
                None => {
                    buffer.clear();
                    continue;
                }
            }
        }
        // `buffer` ends with a newline; take records off its end.
        while let Some((&b'\n', body)) = buffer.split_last() {
            let (record, record_start) = match body.iter().rposition(|&b| b == b'\n') {
                Some(previous) => (&body[previous + 1..], previous + 1),
                None if position == 0 => (body, 0),
                None => break,
            };
            let record_end = position + buffer.len() as u64;
            if let Some(parsed) = parse_record(record)
                && parsed.tag == Tag::Full
                && stream.is_none_or(|s| s == parsed.stream)
            {
                *counted += 1;
                if *counted > lines {
                    return Ok(Some(record_end));
                }
            }
            buffer.truncate(record_start);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(dir: &std::path::Path, name: &str, lines: &[&str]) -> PathBuf {
        let path = dir.join(name);
        let mut text = String::new();
        for line in lines {
            text.push_str(line);
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    const T: &str = "2016-10-06T00:17:09.669794202Z";

    #[test]
    fn counts_full_records_backwards_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let old = file(
            dir.path(),
            "0.log.1",
            &[&format!("{T} stdout F a\n"), &format!("{T} stdout F b\n")],
        );
        let current = file(
            dir.path(),
            "0.log",
            &[
                &format!("{T} stderr F c\n"),
                &format!("{T} stdout P d1\n"),
                &format!("{T} stdout F d2\n"),
                &format!("{T} stdout F incomplete"),
            ],
        );
        let files = [File::open(&old).unwrap(), File::open(&current).unwrap()];
        let record = |s: &str| s.len() as u64;
        let c_len = record(&format!("{T} stderr F c\n"));
        // The last line (d, two records) starts after c.
        assert_eq!(tail_start(&files, 1, None).unwrap(), (1, c_len));
        // Two lines: everything in the current file, i.e. from the end of the rotated one.
        let old_len = std::fs::metadata(&old).unwrap().len();
        assert_eq!(tail_start(&files, 2, None).unwrap(), (0, old_len));
        // Three lines reach into the rotated file: start after its first record.
        assert_eq!(
            tail_start(&files, 3, None).unwrap(),
            (0, record(&format!("{T} stdout F a\n")))
        );
        assert_eq!(tail_start(&files, 10, None).unwrap(), (0, 0));
        // Only stderr: one line in all.
        assert_eq!(tail_start(&files, 1, Some(Stream::Stderr)).unwrap(), (0, 0));
        // Zero lines: the end of the last complete line.
        let incomplete = format!("{T} stdout F incomplete");
        let end = std::fs::metadata(&current).unwrap().len() - incomplete.len() as u64;
        assert_eq!(tail_start(&files, 0, None).unwrap(), (1, end));
    }
}
