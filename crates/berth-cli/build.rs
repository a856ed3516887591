//! Link flags for the `berth` binary.
//!
//! `-z pack-relative-relocs` stores the binary's ~45,000 relative relocations as a
//! compact DT_RELR table (glibc >= 2.36, binutils >= 2.38; an older GNU ld ignores the
//! option with a warning). The dynamic loader then reads ~13 KB instead of ~1 MB of
//! relocation records at every start: ~0.5 ms less per `berth` command here, which
//! matters for `run` and `exec`. The binary stays position independent (ASLR kept),
//! unlike a non-PIE link that would save slightly more. See docs/adr/0024.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux-gnu") {
        println!("cargo:rustc-link-arg-bin=berth=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
