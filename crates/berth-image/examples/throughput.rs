//! Measures the primitives every layer passes through: sha256, gzip (as berth writes it),
//! zstd, and gunzip, on 256 MiB of rootfs-like data (a host binary repeated).
//! `cargo run --release -p berth-image --example throughput`

use berth_image::compression::{auto_decompress, Compression, Compressor};
use berth_image::digest::Hasher;
use std::io::{Read, Write};
use std::time::Instant;

fn main() {
    let sample = std::fs::read("/bin/busybox")
        .or_else(|_| std::fs::read("/bin/sh"))
        .expect("a host binary to sample");
    let mut data = Vec::with_capacity(256 << 20);
    while data.len() < 256 << 20 {
        data.extend_from_slice(&sample);
    }
    data.truncate(256 << 20);
    let mb = data.len() as f64 / 1e6;
    let rate = |what: &str, secs: f64| println!("{what:<24} {:>8.0} MB/s", mb / secs);

    let t = Instant::now();
    let mut h = Hasher::default();
    h.update(&data);
    let _ = h.finish();
    rate("sha256", t.elapsed().as_secs_f64());

    let mut gz = Vec::new();
    for c in [Compression::Gzip, Compression::Zstd] {
        let t = Instant::now();
        let mut w = Compressor::new(c, Vec::new()).unwrap();
        for chunk in data.chunks(256 * 1024) {
            w.write_all(chunk).unwrap();
        }
        let out = w.finish().unwrap();
        rate(
            &format!(
                "{} compress (ratio {:.2})",
                c.name(),
                data.len() as f64 / out.len() as f64
            ),
            t.elapsed().as_secs_f64(),
        );
        if c == Compression::Gzip {
            gz = out;
        }
    }
    let t = Instant::now();
    let (_, mut r) = auto_decompress(&gz[..]).unwrap();
    let mut sink = Vec::with_capacity(data.len());
    r.read_to_end(&mut sink).unwrap();
    rate("gzip decompress", t.elapsed().as_secs_f64());
}
