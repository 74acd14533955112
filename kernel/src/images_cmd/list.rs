//! `kmicro images list`: a table like `crictl images`.

use std::fmt::Write;

use kmicro_images::{ImageRecord, ImageRef};

/// IMAGE TAG IMAGE ID SIZE, one row per tagged name (an image without one: its repository by
/// digest, or `<none>`), sorted by image then tag; `quiet` prints the image IDs only.
pub fn table(images: &[ImageRecord], quiet: bool) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    for image in images {
        let id = image.config_digest.hex()[..13].to_owned();
        let size = human_size(image.size);
        let mut names: Vec<(String, String)> = image
            .names
            .iter()
            .filter_map(|n| ImageRef::parse(n).ok())
            .map(|r| (r.name(), r.tag.unwrap_or_else(|| "<none>".to_owned())))
            .collect();
        if names.is_empty() {
            names = image
                .repo_digests
                .iter()
                .filter_map(|n| ImageRef::parse(n).ok())
                .map(|r| (r.name(), "<none>".to_owned()))
                .collect();
        }
        if names.is_empty() {
            names.push(("<none>".to_owned(), "<none>".to_owned()));
        }
        names.dedup();
        for (name, tag) in names {
            rows.push([name, tag, id.clone(), size.clone()]);
        }
    }
    rows.sort();
    let mut out = String::new();
    if quiet {
        let mut ids: Vec<String> = images.iter().map(|i| i.config_digest.to_string()).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            let _ = writeln!(out, "{id}");
        }
        return out;
    }
    let header = ["IMAGE", "TAG", "IMAGE ID", "SIZE"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let _ = writeln!(
            out,
            "{:<w0$}   {:<w1$}   {:<w2$}   {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    out
}

/// Sizes as crictl prints them (Go's `units.HumanSize`: decimal units, 4 significant digits).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < UNITS.len() {
        size /= 1000.0;
        unit += 1;
    }
    let digits = if size >= 100.0 {
        1
    } else if size >= 10.0 {
        2
    } else {
        3
    };
    let mut text = format!("{size:.digits$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_crictl() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(2_157_000), "2.157MB");
        assert_eq!(human_size(2_100_000), "2.1MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
    }
}
