//! Printing: tables, JSON lines, the Go-template subset of `--format`, human sizes and times.

use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn init_logging(debug: bool) {
    // libcontainer runs in this process for containers without a terminal; what it has
    // to say reaches us as errors, its warnings ("cgroup hugetlb not supported") are noise.
    let filter = if debug {
        "debug"
    } else {
        "warn,libcontainer=off,libcgroups=off"
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

/// "what failed: because: because", one line.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

/// Decimal units as Docker prints them: 4.2MB, 512kB.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else if v < 10.0 {
        format!("{v:.2}{}", UNITS[i])
    } else if v < 100.0 {
        format!("{v:.1}{}", UNITS[i])
    } else {
        format!("{v:.0}{}", UNITS[i])
    }
}

/// Parses `20GB`, `512MiB`, `1.5G`, `1000` (bytes).
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        anyhow::anyhow!(
            "invalid size {s:?}: want a number with an optional unit, like 20GB or 512MiB"
        )
    })?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024f64.powi(4),
        u => anyhow::bail!(
            "invalid size unit {u:?} in {s:?}: use B, kB, MB, GB, TB or KiB, MiB, GiB, TiB"
        ),
    };
    Ok((n * mult) as u64)
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// "3 hours ago", as `docker images` prints it.
pub fn ago(t: i64) -> String {
    let d = (now() - t).max(0);
    let (n, unit) = match d {
        0..=59 => {
            return if d <= 1 {
                "Less than a second ago".into()
            } else {
                format!("{d} seconds ago")
            }
        }
        60..=3599 => (d / 60, "minute"),
        3600..=86_399 => (d / 3600, "hour"),
        86_400..=1_209_599 => (d / 86_400, "day"),
        1_209_600..=5_183_999 => (d / 604_800, "week"),
        5_184_000..=63_071_999 => (d / 2_592_000, "month"),
        _ => (d / 31_536_000, "year"),
    };
    if n == 1 {
        format!("{} {unit} ago", if unit == "hour" { "An" } else { "1" })
    } else {
        format!("{n} {unit}s ago")
    }
}

pub fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Prints rows under headers, columns padded as `docker` does (3 spaces apart).
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}   ", width = w[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// How a listing is printed.
pub enum Format {
    Table,
    Json,
    Template { table: bool, text: String },
}

impl Format {
    pub fn parse(f: Option<&str>) -> Format {
        match f {
            None | Some("table") => Format::Table,
            Some("json") | Some("{{json .}}") => Format::Json,
            Some(t) => match t.strip_prefix("table ") {
                Some(rest) => Format::Template {
                    table: true,
                    text: rest.to_string(),
                },
                None => Format::Template {
                    table: false,
                    text: t.to_string(),
                },
            },
        }
    }

    /// Prints objects as JSON lines or through the template (Table is the caller's job).
    pub fn print_objects(&self, objects: &[Value]) -> anyhow::Result<()> {
        match self {
            Format::Json => {
                for o in objects {
                    println!("{}", serde_json::to_string(o)?);
                }
            }
            Format::Template { table, text } => {
                if *table {
                    let header = text.replace("{{.", "").replace("}}", "").to_uppercase();
                    println!("{}", unescape(&header));
                }
                for o in objects {
                    println!("{}", render(text, o)?);
                }
            }
            Format::Table => unreachable!("tables are printed by the caller"),
        }
        Ok(())
    }
}

fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

/// Prints `inspect` results: a JSON array, or each object through a template.
pub fn print_inspect(objects: &[Value], format: Option<&str>) -> anyhow::Result<()> {
    match format {
        Some(t) => {
            for o in objects {
                println!("{}", render(t, o)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(objects)?),
    }
    Ok(())
}

/// Renders the Go-template subset berth supports: `{{.A.B}}`, `{{json .A}}`, `{{.}}`.
pub fn render(template: &str, v: &Value) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&unescape(&rest[..start]));
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| anyhow::anyhow!("template {template:?}: unclosed {{{{"))?
            + start;
        let expr = rest[start + 2..end].trim();
        let (json, path) = match expr.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, expr),
        };
        let path = path
            .strip_prefix('.')
            .ok_or_else(|| anyhow::anyhow!("template {template:?}: {expr:?} is not supported (use {{{{.Field}}}} or {{{{json .Field}}}})"))?;
        let mut cur = v;
        for key in path.split('.').filter(|k| !k.is_empty()) {
            cur = cur.get(key).unwrap_or(&Value::Null);
        }
        if json {
            out.push_str(&serde_json::to_string(cur)?);
        } else {
            out.push_str(&go_print(cur));
        }
        rest = &rest[end + 2..];
    }
    out.push_str(&unescape(rest));
    Ok(out)
}

fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_200_000), "4.20MB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(parse_size("20GB").unwrap(), 20_000_000_000);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn templates() {
        let v =
            serde_json::json!({"Repository": "app", "Tag": "1", "Config": {"Cmd": ["sh", "-c"]}});
        assert_eq!(render("{{.Repository}}:{{.Tag}}", &v).unwrap(), "app:1");
        assert_eq!(render("{{.Config.Cmd}}", &v).unwrap(), "[sh -c]");
        assert_eq!(
            render("{{json .Config.Cmd}}", &v).unwrap(),
            r#"["sh","-c"]"#
        );
        assert_eq!(render("{{.Missing}}", &v).unwrap(), "<no value>");
        assert!(render("{{.A", &v).is_err());
    }
}
