//! `berth build --check`: the Dockerfile front end without the build engine.

use crate::cli::BuildArgs;
use anyhow::{bail, Context, Result};
use berth_dockerfile::check::{check, CheckOptions};
use std::io::Read;
use std::path::PathBuf;

pub fn run(a: BuildArgs) -> Result<i32> {
    if !a.check {
        bail!("berth build can only check Dockerfiles so far (berth build --check): the build engine that runs them is not written yet");
    }
    let (name, source) = if a.context == "-" && a.file.is_none() {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the Dockerfile from stdin")?;
        ("Dockerfile".to_string(), s)
    } else {
        let path = a
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from(&a.context).join("Dockerfile"));
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        (
            path.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    };
    let mut opts = CheckOptions::default();
    for b in &a.build_args {
        let (k, v) = b
            .split_once('=')
            .with_context(|| format!("--build-arg {b:?}: want NAME=VALUE"))?;
        opts.expand.build_args.insert(k.to_string(), v.to_string());
    }
    let df = match berth_dockerfile::parse(&source) {
        Ok(df) => df,
        Err(e) => {
            eprint!("{}", e.render(&name, &source));
            return Ok(1);
        }
    };
    let report = check(&df, &opts);
    if a.format.as_deref() == Some("json") {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.render_text(&name, &source));
    }
    Ok(if report.fail { 1 } else { 0 })
}
