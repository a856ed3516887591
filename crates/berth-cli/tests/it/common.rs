//! The shared test context: a temp root, the binary, and a busybox base image built once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub struct Ctx {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub out: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    #[track_caller]
    pub fn ok(self) -> Run {
        assert!(
            self.out.status.success(),
            "command failed ({}):\nstdout: {}\nstderr: {}",
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self
    }
    #[track_caller]
    pub fn fails_with(self, needle: &str) -> Run {
        assert!(
            !self.out.status.success(),
            "command should have failed:\nstdout: {}",
            self.stdout()
        );
        assert!(
            self.stderr().contains(needle),
            "stderr should mention {needle:?}:\n{}",
            self.stderr()
        );
        self
    }
}

pub fn berth_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

impl Drop for Ctx {
    /// A test that failed half-way may leave containers running: stop them and release
    /// their mounts, so one failure does not leak into the machine or the next tests.
    fn drop(&mut self) {
        if !self.root().join("berth.db").exists() {
            return;
        }
        if let Ok(out) = self.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = self.cmd(&["rm", "-f", id]).output();
            }
        }
        // Bridges, addresses and nftables rules are host-wide: remove this root's.
        if let Ok(out) = self.cmd(&["network", "ls", "-q"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = self.cmd(&["network", "rm", id]).output();
            }
        }
        for m in self.leaked_mounts().iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).output();
        }
    }
}

impl Ctx {
    pub fn new() -> Ctx {
        Ctx {
            dir: tempfile::Builder::new()
                .prefix("berth-it-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(berth_bin());
        c.arg("--root").arg(self.root()).args(args);
        c.stdin(Stdio::null());
        c
    }

    pub fn berth(&self, args: &[&str]) -> Run {
        Run {
            out: self.cmd(args).output().expect("run berth"),
        }
    }

    pub fn berth_stdin(&self, args: &[&str], input: &Path) -> Run {
        let mut c = self.cmd(args);
        c.stdin(std::fs::File::open(input).expect("open input"));
        Run {
            out: c.output().expect("run berth"),
        }
    }

    /// Imports the busybox rootfs as `name` and returns the image id.
    pub fn busybox(&self, name: &str) -> String {
        let tar = busybox_tar();
        let r = self
            .berth(&[
                "import",
                "-q",
                "-c",
                r#"CMD ["sh"]"#,
                tar.to_str().unwrap(),
                name,
            ])
            .ok();
        r.stdout().trim().to_string()
    }

    pub fn images_json(&self) -> Vec<serde_json::Value> {
        self.berth(&["images", "--format", "json"])
            .ok()
            .stdout()
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }

    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&self.berth(&["image", "inspect", name]).ok().stdout()).unwrap();
        v[0].clone()
    }

    #[track_caller]
    pub fn check_clean(&self) {
        let r = self.berth(&["system", "check"]);
        assert!(
            r.out.status.success() && r.stdout().contains("store is consistent"),
            "system check:\n{}\n{}",
            r.stdout(),
            r.stderr()
        );
    }
}

/// A fixture file kept in the temp directory under a name that says what it was made
/// from (`key`), so one copy serves every test process (nextest runs each test in a
/// process of its own) and every later run. `build` fills a directory of its own, which is
/// then renamed into place: concurrent builders never see half a fixture.
fn cached_fixture(stem: &str, key: &str, file: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let tmp = std::env::temp_dir();
    let dir = tmp.join(format!("{stem}-{key}"));
    let out = dir.join(file);
    if out.exists() {
        return out;
    }
    let work = tmp.join(format!("{stem}-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    build(&work);
    // Another process may have won the race: then its copy is used and ours goes.
    if std::fs::rename(&work, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&work);
    }
    assert!(out.exists(), "no fixture at {}", out.display());
    out
}

/// A short hex digest of some text, for fixture keys.
fn text_key(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The host's static busybox.
fn busybox_bin() -> &'static Path {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox-static is installed (apt-get install busybox-static)")
}

/// A rootfs tarball made from the host's static busybox.
pub fn busybox_tar() -> PathBuf {
    /// Bump when the rootfs below changes.
    const FIXTURE_VERSION: u32 = 1;
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let bb = busybox_bin();
        let meta = std::fs::metadata(bb).unwrap();
        let mtime = meta.modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap();
        let key = format!("v{FIXTURE_VERSION}-{}-{}", meta.len(), mtime.as_secs());
        cached_fixture("berth-it-busybox", &key, "busybox.tar", |work| {
            let rootfs = work.join("rootfs");
            for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
                std::fs::create_dir_all(rootfs.join(d)).unwrap();
            }
            std::fs::copy(bb, rootfs.join("bin/busybox")).unwrap();
            let list = Command::new(bb).arg("--list").output().expect("busybox --list");
            for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| !a.is_empty() && *a != "busybox") {
                std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
            }
            std::fs::create_dir_all(rootfs.join("usr/bin")).unwrap();
            std::fs::create_dir_all(rootfs.join("data")).unwrap();
            std::fs::write(rootfs.join("data/seed.txt"), "from the image\n").unwrap();
            std::fs::write(rootfs.join("etc/not-executable"), "#!/bin/sh\necho hi\n").unwrap();
            std::fs::write(
                rootfs.join("etc/passwd"),
                "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n",
            )
            .unwrap();
            std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:app\n").unwrap();
            sh(&format!(
                "tar --numeric-owner --owner=0 --group=0 -C {} -cf {} .",
                rootfs.display(),
                work.join("busybox.tar").display()
            ));
            std::fs::remove_dir_all(&rootfs).unwrap();
        })
    })
    .clone()
}

/// Runs a shell command, panicking with its output on failure.
#[track_caller]
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes a tarball of `files` (name, content) with a fixed mtime.
pub fn make_tar(path: &Path, files: &[(&str, &[u8])]) {
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.finish().unwrap();
}

/// A tarball of `mb` MiB of incompressible data in 1 MiB files; `path` seeds the content.
pub fn big_tar(path: &Path, mb: usize) {
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(std::io::BufWriter::new(f));
    let mut seed: u64 = 0x9e3779b97f4a7c15
        ^ path
            .to_string_lossy()
            .bytes()
            .fold(0u64, |a, c| a.wrapping_mul(31).wrapping_add(c as u64));
    for i in 0..mb {
        let mut data = vec![0u8; 1 << 20];
        for chunk in data.chunks_mut(8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("data/file{i}"), &data[..])
            .unwrap();
    }
    b.finish().unwrap();
}

/// Asserts two files have the same bytes without printing them.
#[track_caller]
pub fn same_file(a: &Path, b: &Path, what: &str) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    if x != y {
        let at = x
            .iter()
            .zip(&y)
            .position(|(p, q)| p != q)
            .unwrap_or(x.len().min(y.len()));
        panic!(
            "{what}: {} and {} differ (sizes {} and {}, first difference at byte {at})",
            a.display(),
            b.display(),
            x.len(),
            y.len()
        );
    }
}

const PROBE_C: &str = r#"
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "udp-echo") && argc > 2) {
        /* Answers every UDP datagram on PORT with "echo:" + the datagram. */
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons(atoi(argv[2]));
        if (bind(s, (struct sockaddr *)&a, sizeof a)) { perror("bind"); return 1; }
        for (;;) {
            char buf[1500] = "echo:";
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(s, buf + 5, sizeof buf - 5, 0, (struct sockaddr *)&from, &fl);
            if (n >= 0) sendto(s, buf, n + 5, 0, (struct sockaddr *)&from, fl);
        }
    }
    if (!strcmp(argv[1], "keyctl")) {
        long r = syscall(SYS_keyctl, 0, 0, 0, 0, 0);
        printf("keyctl=%ld errno=%d\n", r, r < 0 ? errno : 0);
        return r < 0 && errno == EPERM ? 0 : 1;
    }
    if (!strcmp(argv[1], "unshare")) {
        long r = syscall(SYS_unshare, 0x10000000);
        printf("unshare=%ld errno=%d\n", r, r < 0 ? errno : 0);
        return r < 0 && errno == EPERM ? 0 : 1;
    }
    if (!strcmp(argv[1], "alloc")) {
        long mb = atol(argv[2]);
        for (long i = 0; i < mb; i++) {
            char *p = malloc(1 << 20);
            if (!p) { printf("malloc failed at %ld MiB\n", i); return 3; }
            memset(p, 1, 1 << 20);
        }
        printf("allocated %ld MiB\n", mb);
        return 0;
    }
    if (!strcmp(argv[1], "forks")) {
        int n = atoi(argv[2]), failed = 0;
        for (int i = 0; i < n; i++) {
            pid_t p = fork();
            if (p == 0) { sleep(3); _exit(0); }
            if (p < 0) failed++;
        }
        printf("fork failures: %d\n", failed);
        return failed > 0 ? 0 : 1;
    }
    return 2;
}
"#;

/// The busybox image plus /bin/probe, a static helper that calls syscalls the shell cannot.
pub fn probe_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let base = busybox_tar();
        let key = text_key(&format!("{}\n{PROBE_C}", base.display()));
        cached_fixture("berth-it-probe", &key, "probe.tar", |work| {
            std::fs::create_dir_all(work.join("bin")).unwrap();
            std::fs::write(work.join("probe.c"), PROBE_C).unwrap();
            sh(&format!(
                "gcc -static -O1 -o {0}/bin/probe {0}/probe.c && cp {1} {0}/probe.tar && tar --numeric-owner --owner=0 --group=0 -C {0} -rf {0}/probe.tar ./bin/probe",
                work.display(),
                base.display()
            ));
        })
    })
    .clone()
}

impl Ctx {
    /// Imports the probe image as `name`.
    pub fn probe(&self, name: &str) {
        let tar = probe_tar();
        self.berth(&[
            "import",
            "-q",
            "-c",
            r#"CMD ["sh"]"#,
            tar.to_str().unwrap(),
            name,
        ])
        .ok();
    }

    /// Mount points under this test's root that are still mounted.
    pub fn leaked_mounts(&self) -> Vec<String> {
        let root = self.root().display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&root))
            .collect()
    }
}

/// podman with a private store, so tests do not share state (an interop peer).
pub struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    pub fn new() -> Podman {
        Podman {
            dir: tempfile::Builder::new()
                .prefix("berth-podman-")
                .tempdir()
                .unwrap(),
        }
    }

    /// Runs `podman ARGS` (a shell fragment) on this store; its stdout.
    pub fn run(&self, args: &str) -> String {
        sh(&format!(
            "podman --root {0}/root --runroot {0}/run --storage-driver vfs --cgroup-manager cgroupfs --events-backend none {args}",
            self.dir.path().display()
        ))
    }
}
