//! `kmicro module list`: a table like `kubectl get modules`.

use kmicro_apimachinery::module::human_bytes;
use kmicro_apimachinery::table::human_duration;
use serde_json::Value;

use super::api::Modules;

/// The columns.
const HEADERS: [&str; 6] = ["NAME", "PHASE", "VERSION", "RESTARTS", "MEMORY", "AGE"];

/// Prints the modules.
pub(super) async fn run(client: &Modules) -> anyhow::Result<()> {
    let modules = client.list().await?;
    if modules.is_empty() {
        eprintln!("No modules.");
        return Ok(());
    }
    let now = jiff::Timestamp::now();
    let rows: Vec<[String; 6]> = modules.iter().map(|m| row(m, now)).collect();
    print!("{}", render(&rows));
    Ok(())
}

/// One module's cells.
fn row(module: &Value, now: jiff::Timestamp) -> [String; 6] {
    let status = &module["status"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let phase = match status["phase"].as_str() {
        Some(phase) if !phase.is_empty() => phase.to_string(),
        _ => "Pending".to_string(),
    };
    let memory = status["memoryBytes"]
        .as_u64()
        .map(human_bytes)
        .unwrap_or_default();
    let age = module["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|created| human_duration(now.duration_since(created)))
        .unwrap_or_else(|| "<unknown>".to_string());
    [
        text(&module["metadata"]["name"]),
        phase,
        text(&status["version"]),
        status["restarts"].as_i64().unwrap_or(0).to_string(),
        memory,
        age,
    ]
}

/// kubectl's layout: left-aligned columns, three spaces apart.
fn render(rows: &[[String; 6]]) -> String {
    let mut widths = HEADERS.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(HEADERS);
    for row in rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_and_layout() {
        let now: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let running = json!({"metadata": {"name": "scheduler", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Running", "version": "0.1.0", "restarts": 1, "memoryBytes": 1310720}});
        let new = json!({"metadata": {"name": "x"}});
        let rows = [row(&running, now), row(&new, now)];
        assert_eq!(
            render(&rows),
            "NAME        PHASE     VERSION   RESTARTS   MEMORY   AGE\n\
             scheduler   Running   0.1.0     1          1.2Mi    10m\n\
             x           Pending             0                   <unknown>\n"
        );
    }
}
