//! Containers: lifecycle, exit codes, logs, exec, volumes, limits, isolation, commit, cp,
//! restart policies, health checks, crash recovery and cleanup. Real namespaces via runc.

use crate::common::Run;
use crate::common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn state(c: &Ctx, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(
        &c.berth(&["inspect", "--type", "container", name])
            .ok()
            .stdout(),
    )
    .unwrap();
    v[0]["State"].clone()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `berth run --rm [--runtime X] ARGS...`
fn run_with(c: &Ctx, rt: &[&str], args: &[&str]) -> Run {
    c.berth(&[&["run", "--rm"], rt, args].concat())
}

#[test]
fn exit_codes_follow_docker() {
    exit_codes(&[]);
}

#[test]
fn runc_parity_exit_codes() {
    exit_codes(&["--runtime", "runc"]);
}

fn exit_codes(rt: &[&str]) {
    let c = Ctx::new();
    c.busybox("bb");
    assert_eq!(run_with(&c, rt, &["bb", "true"]).code(), 0);
    assert_eq!(run_with(&c, rt, &["bb", "sh", "-c", "exit 3"]).code(), 3);
    assert_eq!(
        run_with(
            &c,
            rt,
            &[
                "-e",
                "A=b",
                "bb",
                "sh",
                "-c",
                "echo $A; cat /etc/hostname >/dev/null"
            ]
        )
        .ok()
        .stdout(),
        "b\n"
    );
    assert_eq!(c.berth(&["run", "--rm", "bb", "true"]).code(), 0);
    assert_eq!(
        c.berth(&["run", "--rm", "bb", "sh", "-c", "exit 3"]).code(),
        3
    );
    let r = c.berth(&["run", "--rm", "bb", "no-such-command"]);
    assert_eq!(r.code(), 127, "{}", r.stderr());
    assert!(
        r.stderr().contains("executable file not found"),
        "{}",
        r.stderr()
    );
    let r = c.berth(&["run", "--rm", "bb", "/etc/not-executable"]);
    assert_eq!(r.code(), 126, "{}", r.stderr());
    let r = c.berth(&["run", "--rm", "no-such-image", "true"]);
    assert_eq!(r.code(), 125, "{}", r.stderr());
    assert!(r.stderr().contains("no such image"));
    let r = c.berth(&["run", "--rm", "-u", "ghost", "bb", "true"]);
    assert_eq!(r.code(), 126, "{}", r.stderr());
    assert!(r.stderr().contains("unable to find user ghost"));
    assert_eq!(
        c.berth(&["run", "--rm", "bb", "sh", "-c", "exit 255"])
            .code(),
        255
    );
    // Output reaches the caller; --rm leaves nothing behind.
    assert_eq!(
        c.berth(&["run", "--rm", "bb", "echo", "hello from berth"])
            .ok()
            .stdout(),
        "hello from berth\n"
    );
    assert_eq!(c.berth(&["ps", "-aq"]).ok().stdout(), "");
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
    // A child that outlives the init dies with its pid namespace; the cgroups (every
    // hierarchy) and the runtime's state go with the container.
    let out = run_with(
        &c,
        rt,
        &["bb", "sh", "-c", "sleep 30 & cat /proc/self/cgroup"],
    )
    .ok()
    .stdout();
    let id = out
        .lines()
        .find_map(|l| l.split("/berth/").nth(1))
        .unwrap_or_else(|| panic!("no berth cgroup in {out}"))
        .trim()
        .to_string();
    let left: Vec<String> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("berth").join(&id))
        .chain(
            std::fs::read_dir(c.root().join("runtime"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().join(&id)),
        )
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    assert!(left.is_empty(), "left behind by run --rm: {left:?}");
}

#[test]
fn detached_lifecycle_logs_exec_stop_rm() {
    lifecycle(&[]);
}

#[test]
fn runc_parity_lifecycle() {
    lifecycle(&["--runtime", "runc"]);
}

fn lifecycle(rt: &[&str]) {
    let c = Ctx::new();
    c.busybox("bb");
    let script =
        "trap 'echo bye; exit 0' TERM; echo started; echo oops >&2; while true; do sleep 0.1; done";
    let id = c
        .berth(
            &[
                &["run", "-d", "--name", "ticker"],
                rt,
                &["bb", "sh", "-c", script],
            ]
            .concat(),
        )
        .ok()
        .stdout();
    assert_eq!(id.trim().len(), 64);
    wait_for("log line", Duration::from_secs(5), || {
        c.berth(&["logs", "ticker"]).stdout().contains("started")
    });
    let ps = c.berth(&["ps"]).ok().stdout();
    assert!(ps.contains("ticker") && ps.contains("Up"), "{ps}");
    let logs = c.berth(&["logs", "ticker"]).ok();
    assert_eq!(logs.stdout(), "started\n");
    assert_eq!(logs.stderr(), "oops\n");
    let t = c.berth(&["logs", "-t", "--tail", "2", "ticker"]).ok();
    let stamped = format!("{}{}", t.stdout(), t.stderr());
    assert_eq!(stamped.lines().count(), 2, "{stamped}");
    assert!(
        stamped.lines().all(|l| l
            .split(' ')
            .next()
            .is_some_and(|ts| ts.parse::<jiff::Timestamp>().is_ok())),
        "timestamps: {stamped}"
    );
    // exec: output, exit code, env, user, workdir.
    assert_eq!(
        c.berth(&["exec", "ticker", "cat", "/etc/hostname"])
            .ok()
            .stdout()
            .trim(),
        &id.trim()[..12]
    );
    assert_eq!(c.berth(&["exec", "ticker", "sh", "-c", "exit 5"]).code(), 5);
    assert_eq!(
        c.berth(&[
            "exec",
            "-u",
            "app",
            "-w",
            "/tmp",
            "-e",
            "X=1",
            "ticker",
            "sh",
            "-c",
            "echo $(id -u):$(id -G):$PWD:$X"
        ])
        .ok()
        .stdout()
        .trim(),
        "1000:1000 50:/tmp:1"
    );
    assert_eq!(c.berth(&["exec", "ticker", "nope"]).code(), 127);
    let r = c.berth(&["exec", "-w", "/nowhere", "ticker", "pwd"]);
    assert_eq!(r.code(), 126);
    assert!(
        r.stderr().contains("working directory /nowhere"),
        "{}",
        r.stderr()
    );
    // exec's stdin is /dev/null without -i, ours with it.
    let input = c.root().join("exec-input");
    std::fs::write(&input, "fed\n").unwrap();
    assert_eq!(
        c.berth_stdin(&["exec", "ticker", "sh", "-c", "cat; echo end"], &input)
            .ok()
            .stdout(),
        "end\n"
    );
    assert_eq!(
        c.berth_stdin(&["exec", "-i", "ticker", "cat"], &input)
            .ok()
            .stdout(),
        "fed\n"
    );
    // An init that installs its TERM handler late still gets the stop signal (the
    // kernel drops it while a PID 1 has no handler): no waiting out the timeout.
    c.berth(
        &[
            &["run", "-d", "--name", "late"],
            rt,
            &[
                "bb",
                "sh",
                "-c",
                "sleep 1; trap 'echo late-bye; exit 0' TERM; while true; do sleep 0.1; done",
            ],
        ]
        .concat(),
    )
    .ok();
    let t = Instant::now();
    c.berth(&["stop", "-t", "20", "late"]).ok();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(state(&c, "late")["ExitCode"], 0);
    assert!(c.berth(&["logs", "late"]).stdout().contains("late-bye"));
    c.berth(&["rm", "late"]).ok();
    // The stop signal goes to the init alone, as Docker's does: the init decides how its
    // children stop (a child with a TERM handler of its own hears nothing).
    c.berth(
        &[
            &["run", "-d", "--name", "family"],
            rt,
            &[
                "bb",
                "sh",
                "-c",
                "sh -c 'trap \"echo child-term\" TERM; echo child-ready; while true; do sleep 0.1; done' & \
                 trap 'echo parent-term; sleep 0.5; exit 0' TERM; while true; do sleep 0.1; done",
            ],
        ]
        .concat(),
    )
    .ok();
    wait_for("child ready", Duration::from_secs(5), || {
        c.berth(&["logs", "family"])
            .stdout()
            .contains("child-ready")
    });
    c.berth(&["stop", "family"]).ok();
    let logs = c.berth(&["logs", "family"]).ok().stdout();
    assert!(
        logs.contains("parent-term") && !logs.contains("child-term"),
        "{logs}"
    );
    c.berth(&["rm", "family"]).ok();
    // A detached container with a tty writes through its pty into the log.
    c.berth(
        &[
            &["run", "-d", "-t", "--name", "tty"],
            rt,
            &["bb", "sh", "-c", "test -t 1 && echo on-a-tty"],
        ]
        .concat(),
    )
    .ok();
    wait_for("tty log line", Duration::from_secs(5), || {
        c.berth(&["logs", "tty"]).stdout().contains("on-a-tty")
    });
    c.berth(&["rm", "-f", "tty"]).ok();
    let top = c.berth(&["top", "ticker"]).ok().stdout();
    assert!(top.contains("sleep") || top.contains("sh"), "{top}");
    // stop sends the stop signal; the trap exits 0.
    let t = Instant::now();
    c.berth(&["stop", "ticker"]).ok();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stopped by SIGTERM, not by the timeout"
    );
    assert_eq!(state(&c, "ticker")["ExitCode"], 0);
    assert!(c.berth(&["logs", "ticker"]).stdout().contains("bye"));
    assert_eq!(c.berth(&["wait", "ticker"]).ok().stdout().trim(), "0");
    // Start again, rename, kill, rm.
    c.berth(&["start", "ticker"]).ok();
    assert_eq!(state(&c, "ticker")["Status"], "running");
    c.berth(&["rm", "ticker"]).fails_with("stop it first");
    c.berth(&["rename", "ticker", "tocker"]).ok();
    c.berth(&["kill", "tocker"]).ok();
    wait_for("kill", Duration::from_secs(5), || {
        state(&c, "tocker")["Status"] == "exited"
    });
    assert_eq!(state(&c, "tocker")["ExitCode"], 137);
    c.berth(&["rm", "tocker"]).ok();
    assert_eq!(c.berth(&["ps", "-aq"]).ok().stdout(), "");
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
    assert!(
        !std::path::Path::new(&format!("/sys/fs/cgroup/memory/berth/{}", id.trim())).exists(),
        "cgroup removed"
    );
    assert!(std::fs::read_dir(c.root().join("containers"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn config_from_image_and_flags() {
    let c = Ctx::new();
    let tar = busybox_tar();
    c.berth(&[
        "import",
        "-q",
        "-c",
        "ENV GREETING=hi FROM_IMAGE=yes",
        "-c",
        "WORKDIR /data",
        "-c",
        r#"ENTRYPOINT ["/bin/sh", "-c"]"#,
        "-c",
        r#"CMD ["echo $GREETING from $PWD"]"#,
        tar.to_str().unwrap(),
        "cfg",
    ])
    .ok();
    assert_eq!(
        c.berth(&["run", "--rm", "cfg"]).ok().stdout(),
        "hi from /data\n"
    );
    assert_eq!(
        c.berth(&[
            "run",
            "--rm",
            "-e",
            "GREETING=hello",
            "-w",
            "/tmp",
            "cfg",
            "echo $GREETING $FROM_IMAGE $PWD"
        ])
        .ok()
        .stdout(),
        "hello yes /tmp\n"
    );
    let envf = c.path("env");
    std::fs::write(&envf, "# comment\nA=1\nB=two words\n").unwrap();
    assert_eq!(
        c.berth(&[
            "run",
            "--rm",
            "--env-file",
            envf.to_str().unwrap(),
            "cfg",
            "echo $A-$B"
        ])
        .ok()
        .stdout(),
        "1-two words\n"
    );
    assert_eq!(
        c.berth(&["run", "--rm", "--entrypoint", "id", "cfg", "-u"])
            .ok()
            .stdout(),
        "0\n"
    );
    assert_eq!(
        c.berth(&["run", "--rm", "-u", "app:staff", "cfg", "id -u; id -g"])
            .ok()
            .stdout(),
        "1000\n50\n"
    );
    assert_eq!(
        c.berth(&["run", "--rm", "--hostname", "box", "cfg", "hostname"])
            .ok()
            .stdout(),
        "box\n"
    );
    assert_eq!(
        c.berth(&["run", "--rm", "--label", "team=ci", "cfg", "true"])
            .code(),
        0
    );
}

#[test]
fn volumes_binds_tmpfs_and_read_only() {
    let c = Ctx::new();
    c.busybox("bb");
    // A new named volume is seeded from the image's content at its mount point.
    c.berth(&[
        "run",
        "--rm",
        "-v",
        "appdata:/data",
        "bb",
        "sh",
        "-c",
        "cat /data/seed.txt; echo written > /data/new.txt",
    ])
    .ok();
    let out = c
        .berth(&[
            "run",
            "--rm",
            "-v",
            "appdata:/data",
            "bb",
            "cat",
            "/data/seed.txt",
            "/data/new.txt",
        ])
        .ok()
        .stdout();
    assert_eq!(out, "from the image\nwritten\n");
    let ls = c.berth(&["volume", "ls", "-q"]).ok().stdout();
    assert!(ls.contains("appdata"), "{ls}");
    let vi: serde_json::Value =
        serde_json::from_str(&c.berth(&["volume", "inspect", "appdata"]).ok().stdout()).unwrap();
    assert!(vi[0]["Mountpoint"]
        .as_str()
        .unwrap()
        .ends_with("appdata/_data"));
    // Bind mounts, read-write and read-only.
    let host = c.path("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in.txt"), "from the host\n").unwrap();
    let spec = format!("{}:/mnt", host.display());
    assert_eq!(
        c.berth(&[
            "run",
            "--rm",
            "-v",
            &spec,
            "bb",
            "sh",
            "-c",
            "cat /mnt/in.txt; echo back > /mnt/out.txt"
        ])
        .ok()
        .stdout(),
        "from the host\n"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).unwrap(),
        "back\n"
    );
    let ro = format!("{}:/mnt:ro", host.display());
    assert_ne!(
        c.berth(&[
            "run",
            "--rm",
            "-v",
            &ro,
            "bb",
            "sh",
            "-c",
            "echo x > /mnt/nope"
        ])
        .code(),
        0
    );
    let mnt = format!("type=bind,source={},target=/m,readonly", host.display());
    assert_eq!(
        c.berth(&["run", "--rm", "--mount", &mnt, "bb", "cat", "/m/in.txt"])
            .ok()
            .stdout(),
        "from the host\n"
    );
    // tmpfs and --read-only.
    assert_eq!(
        c.berth(&[
            "run",
            "--rm",
            "--read-only",
            "--tmpfs",
            "/run:size=1m",
            "bb",
            "sh",
            "-c",
            "echo ok > /run/x && cat /run/x"
        ])
        .ok()
        .stdout(),
        "ok\n"
    );
    assert_ne!(
        c.berth(&["run", "--rm", "--read-only", "bb", "touch", "/etc/x"])
            .code(),
        0
    );
    // A volume in use is not removed; unused anonymous ones are pruned.
    c.berth(&[
        "run",
        "-d",
        "--name",
        "holder",
        "-v",
        "appdata:/data",
        "-v",
        "/anon",
        "bb",
        "sleep",
        "30",
    ])
    .ok();
    c.berth(&["volume", "rm", "appdata"]).fails_with("in use");
    c.berth(&["rm", "-f", "-v", "holder"]).ok();
    c.berth(&["volume", "rm", "appdata"]).ok();
    c.berth(&["run", "--name", "anon", "-v", "/scratch", "bb", "true"])
        .ok();
    c.berth(&["rm", "anon"]).ok();
    assert_eq!(
        c.berth(&["volume", "ls", "-q"])
            .ok()
            .stdout()
            .lines()
            .count(),
        1
    );
    c.berth(&["volume", "prune", "-f"]).ok();
    assert_eq!(c.berth(&["volume", "ls", "-q"]).ok().stdout(), "");
}

#[test]
fn isolation_like_docker() {
    isolation(&[]);
}

#[test]
fn runc_parity_isolation() {
    isolation(&["--runtime", "runc"]);
}

fn isolation(rt: &[&str]) {
    let c = Ctx::new();
    c.probe("probe");
    let run = |args: &[&str]| run_with(&c, rt, args);
    // Own pid namespace: the command is PID 1 and host processes are invisible.
    assert_eq!(run(&["probe", "sh", "-c", "echo $$"]).ok().stdout(), "1\n");
    let n: usize = run(&["probe", "sh", "-c", "ls /proc | grep -c '^[0-9]'"])
        .ok()
        .stdout()
        .trim()
        .parse()
        .unwrap();
    assert!(n < 5, "only the container's processes are visible, saw {n}");
    // Own mount namespace: host mounts are not visible.
    let mounts = run(&["probe", "cat", "/proc/self/mounts"]).ok().stdout();
    let points: Vec<&str> = mounts.lines().filter_map(|l| l.split(' ').nth(1)).collect();
    assert!(
        points.iter().all(|p| *p == "/"
            || p.starts_with("/proc")
            || p.starts_with("/dev")
            || p.starts_with("/sys")
            || p.starts_with("/etc/")),
        "{points:?}"
    );
    // uts: own hostname; ipc: own namespace id.
    assert_ne!(
        run(&["probe", "hostname"]).ok().stdout().trim(),
        sh("hostname").trim()
    );
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    assert_ne!(
        run(&["probe", "readlink", "/proc/self/ns/ipc"])
            .ok()
            .stdout()
            .trim(),
        host_ipc.to_str().unwrap()
    );
    // No CAP_SYS_ADMIN: mount fails; default seccomp blocks keyctl and unshare.
    assert_ne!(
        run(&["probe", "mount", "-t", "tmpfs", "none", "/tmp"]).code(),
        0
    );
    assert_eq!(
        run(&["probe", "probe", "keyctl"]).code(),
        0,
        "keyctl is refused with EPERM"
    );
    assert_eq!(
        run(&["probe", "probe", "unshare"]).code(),
        0,
        "unshare is refused with EPERM"
    );
    assert_ne!(
        run(&[
            "--security-opt",
            "seccomp=unconfined",
            "probe",
            "probe",
            "keyctl"
        ])
        .code(),
        0,
        "unconfined allows keyctl"
    );
    // Masked and read-only paths.
    // (Masked with /dev/null: readable and empty, whatever the host shows.)
    assert!(!sh("cat /proc/timer_list").is_empty());
    assert_eq!(
        run(&["probe", "sh", "-c", "wc -c < /proc/timer_list"])
            .ok()
            .stdout()
            .trim(),
        "0"
    );
    assert_eq!(
        run(&["probe", "sh", "-c", "wc -c < /proc/interrupts"])
            .ok()
            .stdout()
            .trim(),
        "0"
    );
    assert_ne!(
        run(&["probe", "sh", "-c", "echo 1 > /proc/sys/kernel/domainname"]).code(),
        0
    );
    assert_ne!(
        run(&["probe", "sh", "-c", "echo 1 > /sys/kernel/uevent_helper"]).code(),
        0
    );
    // Capabilities: drop and add.
    let caps = |extra: &[&str]| {
        run(&[
            extra,
            &["probe", "sh", "-c", "grep CapEff /proc/self/status"],
        ]
        .concat())
        .ok()
        .stdout()
    };
    assert_eq!(caps(&[]).trim(), "CapEff:\t00000000a80425fb");
    assert_eq!(
        caps(&["--cap-drop", "ALL"]).trim(),
        "CapEff:\t0000000000000000"
    );
    assert_ne!(caps(&["--cap-add", "SYS_ADMIN"]), caps(&[]));
    assert_eq!(
        run(&[
            "--privileged",
            "probe",
            "mount",
            "-t",
            "tmpfs",
            "none",
            "/tmp"
        ])
        .code(),
        0
    );
    // --security-opt no-new-privileges
    assert!(run(&[
        "--security-opt",
        "no-new-privileges",
        "probe",
        "grep",
        "NoNewPrivs",
        "/proc/self/status"
    ])
    .ok()
    .stdout()
    .contains('1'));
}

#[test]
fn limits_memory_pids_ulimit() {
    limits(&[]);
}

#[test]
fn runc_parity_limits() {
    limits(&["--runtime", "runc"]);
}

fn limits(rt: &[&str]) {
    let c = Ctx::new();
    c.probe("probe");
    let r = run_with(
        &c,
        rt,
        &["--memory", "32m", "probe", "probe", "alloc", "256"],
    );
    assert_eq!(
        r.code(),
        137,
        "allocation past --memory is OOM-killed: {}",
        r.stdout()
    );
    assert_eq!(
        run_with(
            &c,
            rt,
            &["--memory", "64m", "probe", "probe", "alloc", "16"]
        )
        .code(),
        0
    );
    let r = run_with(
        &c,
        rt,
        &["--pids-limit", "20", "probe", "probe", "forks", "60"],
    );
    assert_eq!(
        r.code(),
        0,
        "fork bomb stopped by --pids-limit: {}",
        r.stdout()
    );
    let out = run_with(
        &c,
        rt,
        &[
            "--ulimit",
            "nofile=256:512",
            "probe",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn",
        ],
    )
    .ok()
    .stdout();
    assert_eq!(out, "256\n512\n");
    let cpu = run_with(
        &c,
        rt,
        &["--cpus", "0.5", "probe", "sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max"],
    )
    .ok()
    .stdout();
    assert_eq!(cpu.trim(), "50000");
}

#[test]
fn commit_makes_an_image_with_whiteouts() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&["run", "--name", "work", "bb", "sh", "-c", "echo built > /etc/built; rm /data/seed.txt; mkdir -p /opt/app && echo v1 > /opt/app/version"]).ok();
    let id = c
        .berth(&[
            "commit",
            "-c",
            r#"CMD ["cat", "/opt/app/version"]"#,
            "-m",
            "snapshot",
            "work",
            "app:candidate",
        ])
        .ok()
        .stdout();
    assert!(id.trim().starts_with("sha256:"));
    assert_eq!(
        c.berth(&["run", "--rm", "app:candidate"]).ok().stdout(),
        "v1\n"
    );
    assert_eq!(
        c.berth(&["run", "--rm", "app:candidate", "cat", "/etc/built"])
            .ok()
            .stdout(),
        "built\n"
    );
    assert_ne!(
        c.berth(&["run", "--rm", "app:candidate", "cat", "/data/seed.txt"])
            .code(),
        0,
        "deleted file stays deleted"
    );
    let h = c.berth(&["history", "app:candidate"]).ok().stdout();
    assert!(
        h.contains("berth commit work") && h.contains("snapshot"),
        "{h}"
    );
    assert_eq!(
        c.inspect("app:candidate")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The committed image survives save/load into another store.
    let out = c.path("candidate.tar");
    c.berth(&["save", "-o", out.to_str().unwrap(), "app:candidate"])
        .ok();
    let d = Ctx::new();
    d.berth(&["load", "-i", out.to_str().unwrap()]).ok();
    assert_eq!(
        d.berth(&["run", "--rm", "app:candidate"]).ok().stdout(),
        "v1\n"
    );
    c.check_clean();
}

#[test]
fn cp_never_follows_container_symlinks_out() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&[
        "run",
        "-d",
        "--name",
        "box",
        "bb",
        "sh",
        "-c",
        "ln -s /etc /evil; ln -s /etc/passwd /evilfile; sleep 60",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(300));
    let host_file = c.path("payload");
    std::fs::write(&host_file, "payload\n").unwrap();
    // Into the container through its /evil -> /etc: lands in the container's /etc.
    c.berth(&["cp", host_file.to_str().unwrap(), "box:/evil/berth-cp-test"])
        .ok();
    assert!(
        !std::path::Path::new("/etc/berth-cp-test").exists(),
        "never the host's /etc"
    );
    assert_eq!(
        c.berth(&["exec", "box", "cat", "/etc/berth-cp-test"])
            .ok()
            .stdout(),
        "payload\n"
    );
    // Out of the container: the container's passwd, not the host's.
    let out = c.path("passwd-out");
    c.berth(&["cp", "box:/evilfile", out.to_str().unwrap()])
        .ok();
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("app:x:1000"));
    // Directories both ways, also from a stopped container.
    let dir = c.path("tree");
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    std::fs::write(dir.join("a/b/c.txt"), "deep\n").unwrap();
    c.berth(&["cp", dir.to_str().unwrap(), "box:/tmp/"]).ok();
    assert_eq!(
        c.berth(&["exec", "box", "cat", "/tmp/tree/a/b/c.txt"])
            .ok()
            .stdout(),
        "deep\n"
    );
    c.berth(&["stop", "-t", "1", "box"]).ok();
    let back = c.path("back");
    c.berth(&["cp", "box:/tmp/tree", back.to_str().unwrap()])
        .ok();
    assert_eq!(
        std::fs::read_to_string(back.join("a/b/c.txt")).unwrap(),
        "deep\n"
    );
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
    c.berth(&["rm", "box"]).ok();
}

#[test]
fn restart_policies_and_health() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "bb",
        "sh",
        "-c",
        "exit 1",
    ])
    .ok();
    wait_for("two restarts", Duration::from_secs(15), || {
        let s = c
            .berth(&[
                "inspect",
                "-f",
                "{{.RestartCount}} {{.State.Status}}",
                "flaky",
            ])
            .stdout();
        s.trim() == "2 exited"
    });
    c.berth(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "bb",
        "sh",
        "-c",
        "sleep 0.2; exit 0",
    ])
    .ok();
    wait_for("a restart", Duration::from_secs(10), || {
        c.berth(&["inspect", "-f", "{{.RestartCount}}", "always"])
            .stdout()
            .trim()
            != "0"
    });
    c.berth(&["stop", "-t", "1", "always"]).ok();
    let n = c
        .berth(&["inspect", "-f", "{{.RestartCount}}", "always"])
        .ok()
        .stdout();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        c.berth(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.Status}}",
            "always"
        ])
        .ok()
        .stdout()
        .trim(),
        format!("{} exited", n.trim()),
        "a stopped container stays stopped"
    );
    // Health: unhealthy until the file appears, then healthy.
    c.berth(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--health-cmd",
        "test -f /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "bb",
        "sleep",
        "60",
    ])
    .ok();
    wait_for("unhealthy", Duration::from_secs(10), || {
        c.berth(&["inspect", "-f", "{{.State.Health.Status}}", "svc"])
            .stdout()
            .trim()
            == "unhealthy"
    });
    c.berth(&["exec", "svc", "touch", "/tmp/ready"]).ok();
    wait_for("healthy", Duration::from_secs(10), || {
        c.berth(&["inspect", "-f", "{{.State.Health.Status}}", "svc"])
            .stdout()
            .trim()
            == "healthy"
    });
    assert!(c.berth(&["ps"]).ok().stdout().contains("(healthy)"));
    c.berth(&["rm", "-f", "flaky", "always", "svc"]).ok();
    assert!(c.leaked_mounts().is_empty());
}

#[test]
fn monitor_killed_with_9_reports_the_truth() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&["run", "-d", "--name", "orphan", "bb", "sleep", "60"])
        .ok();
    let mpid = state(&c, "orphan")["MonitorPid"].as_i64().unwrap();
    sh(&format!("kill -9 {mpid}"));
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(
        state(&c, "orphan")["Status"],
        "running",
        "the container itself still runs"
    );
    assert!(c.berth(&["ps"]).ok().stdout().contains("orphan"));
    assert!(t.elapsed() < Duration::from_secs(3), "never hangs");
    c.berth(&["stop", "-t", "1", "orphan"]).ok();
    assert_eq!(state(&c, "orphan")["Status"], "exited");
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
    c.berth(&["rm", "orphan"]).ok();
    // A crash while running: the next ps notices the container is gone and cleans up.
    c.berth(&["run", "-d", "--name", "crash", "bb", "sleep", "60"])
        .ok();
    let s = state(&c, "crash");
    sh(&format!("kill -9 {} {}", s["MonitorPid"], s["Pid"]));
    std::thread::sleep(Duration::from_millis(300));
    let ps = c.berth(&["ps", "-a"]).ok().stdout();
    assert!(ps.contains("Exited"), "{ps}");
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
}

#[test]
fn foreground_run_forwards_signals_and_init_reaps() {
    let c = Ctx::new();
    c.busybox("bb");
    let mut child = c
        .cmd(&[
            "run",
            "--rm",
            "bb",
            "sh",
            "-c",
            "trap 'echo got-term; exit 42' TERM; echo ready; while true; do sleep 0.1; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    sh(&format!("kill -TERM {}", child.id()));
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(status.code(), Some(42), "{rest}");
    assert!(rest.contains("got-term"));
    // --init: PID 1 is tini, which reaps the orphan left behind.
    let out = c
        .berth(&[
            "run",
            "--rm",
            "--init",
            "bb",
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; (sleep 0.1 &); sleep 0.5; ps -o stat | grep -c Z",
        ])
        .stdout();
    assert!(out.starts_with("/dev/init"), "{out}");
    assert!(out.trim().ends_with('0'), "no zombies with --init: {out}");
}

#[test]
fn logs_rotate_and_follow() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&[
        "run",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=2",
        "bb",
        "sh",
        "-c",
        "for i in $(seq 1 200); do echo line-$i; done",
    ])
    .ok();
    let id = c
        .berth(&["inspect", "-f", "{{.Id}}", "chatty"])
        .ok()
        .stdout();
    let dir = c.root().join("containers").join(id.trim());
    let logs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("container-json.log"))
        .collect();
    assert_eq!(logs.len(), 2, "{logs:?}");
    let tail = c.berth(&["logs", "--tail", "3", "chatty"]).ok().stdout();
    assert_eq!(tail, "line-198\nline-199\nline-200\n");
    // -f follows until the container stops.
    c.berth(&[
        "run",
        "-d",
        "--name",
        "slow",
        "bb",
        "sh",
        "-c",
        "for i in 1 2 3; do echo n$i; sleep 0.2; done",
    ])
    .ok();
    let out = c.berth(&["logs", "-f", "slow"]).ok().stdout();
    assert_eq!(out, "n1\nn2\nn3\n");
}

#[test]
fn ps_filters_and_json() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&[
        "run", "-d", "--name", "a1", "--label", "tier=web", "bb", "sleep", "30",
    ])
    .ok();
    c.berth(&["create", "--name", "a2", "bb", "true"]).ok();
    assert_eq!(c.berth(&["ps", "-q"]).ok().stdout().lines().count(), 1);
    assert_eq!(c.berth(&["ps", "-aq"]).ok().stdout().lines().count(), 2);
    assert_eq!(
        c.berth(&[
            "ps",
            "-a",
            "--filter",
            "status=created",
            "--format",
            "{{.Names}}"
        ])
        .ok()
        .stdout(),
        "a2\n"
    );
    assert_eq!(
        c.berth(&["ps", "--filter", "label=tier=web", "--format", "{{.Names}}"])
            .ok()
            .stdout(),
        "a1\n"
    );
    let j: serde_json::Value = serde_json::from_str(
        c.berth(&["ps", "--format", "json"])
            .ok()
            .stdout()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(j["State"], "running");
    c.berth(&["start", "-a", "a2"]).ok();
    c.berth(&["container", "prune", "-f"]).ok();
    assert_eq!(c.berth(&["ps", "-aq"]).ok().stdout().lines().count(), 1);
    c.berth(&["rm", "-f", "a1"]).ok();
    c.berth(&["create", "--name", "a1", "bb"]).ok();
    c.berth(&["create", "--name", "a1", "bb"])
        .fails_with("already in use");
    // An image in use is not removed unless forced.
    c.berth(&["rmi", "bb"])
        .fails_with("being used by container");
}

#[test]
fn stats_and_attach() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&[
        "run",
        "-d",
        "--name",
        "s",
        "--memory",
        "64m",
        "bb",
        "sh",
        "-c",
        "sleep 1.5; echo late; exit 4",
    ])
    .ok();
    let st = c
        .berth(&["stats", "--no-stream", "--format", "json", "s"])
        .ok()
        .stdout();
    let v: serde_json::Value = serde_json::from_str(st.lines().next().expect("a line")).unwrap();
    assert_eq!(v["MemLimit"], 64u64 << 20, "{v}");
    assert!(v["PIDs"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["MemUsage"].as_u64().unwrap() > 0, "{v}");
    let table = c.berth(&["stats", "--no-stream"]).ok().stdout();
    assert!(
        table.contains("MEM USAGE / LIMIT") && table.contains(" s "),
        "{table}"
    );
    let r = c.berth(&["attach", "s"]);
    assert_eq!(r.code(), 4, "attach exits with the container's code");
    assert_eq!(r.stdout(), "late\n");
    c.berth(&["attach", "s"]).fails_with("not running");
}

#[test]
fn attach_sends_stdin_and_detaches() {
    attach_with_stdin(&[]);
}

#[test]
fn runc_parity_attach_sends_stdin_and_detaches() {
    attach_with_stdin(&["--runtime", "runc"]);
}

fn attach_with_stdin(rt: &[&str]) {
    let c = Ctx::new();
    c.busybox("bb");
    let input = c.root().join("input");
    // -d -i: stdin stays open for attach; the container answers and exits with 3.
    let script = "read l; echo \"got: $l\"; exit 3";
    c.berth(
        &[
            &["run", "-d", "-i", "--name", "r"],
            rt,
            &["bb", "sh", "-c", script],
        ]
        .concat(),
    )
    .ok();
    std::fs::write(&input, "hello\n").unwrap();
    let r = c.berth_stdin(&["attach", "r"], &input);
    assert_eq!(r.code(), 3, "{}", r.stderr());
    assert_eq!(r.stdout(), "got: hello\n");
    // Ctrl-P Ctrl-Q leaves the container running; what came before it was delivered.
    c.berth(
        &[
            &["run", "-d", "-i", "--name", "cat"],
            rt,
            &["bb", "sh", "-c", "while read l; do echo \"<$l>\"; done"],
        ]
        .concat(),
    )
    .ok();
    std::fs::write(&input, "a\nb\n\x10\x11").unwrap();
    let r = c.berth_stdin(&["attach", "cat"], &input);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(state(&c, "cat")["Status"], "running");
    wait_for("echoed lines", Duration::from_secs(5), || {
        c.berth(&["logs", "cat"]).stdout() == "<a>\n<b>\n"
    });
    c.berth(&["rm", "-f", "cat"]).ok();
    if rt.is_empty() {
        // With a tty the input goes through the container's terminal.
        c.berth(&[
            "run",
            "-d",
            "-i",
            "-t",
            "--name",
            "tty",
            "bb",
            "sh",
            "-c",
            "read l; echo \"tty got: $l\"",
        ])
        .ok();
        std::fs::write(&input, "typed\n").unwrap();
        let r = c.berth_stdin(&["attach", "tty"], &input);
        assert!(r.stdout().contains("tty got: typed"), "{}", r.stdout());
    }
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
}

#[test]
fn system_prune_removes_stopped_containers_and_crash_leftovers() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&["run", "--name", "done", "bb", "true"]).ok();
    c.berth(&["run", "-d", "--name", "crashed", "bb", "sleep", "60"])
        .ok();
    c.berth(&["run", "-d", "--name", "alive", "bb", "sleep", "60"])
        .ok();
    let s = state(&c, "crashed");
    sh(&format!("kill -9 {} {}", s["MonitorPid"], s["Pid"]));
    std::thread::sleep(Duration::from_millis(300));
    // Empty container cgroups a dead runtime left behind go once they are a minute old
    // (a young one may belong to a container starting in another store).
    let tag = c
        .root()
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let stale = format!("/sys/fs/cgroup/pids/berth/stale-{tag}");
    let young = format!("/sys/fs/cgroup/pids/berth/young-{tag}");
    for d in [&stale, &young] {
        std::fs::create_dir_all(d).unwrap();
    }
    sh(&format!("touch -d '2 hours ago' {stale}"));
    let out = c.berth(&["system", "prune", "-f"]).ok().stdout();
    assert!(
        out.contains("done") && out.contains("crashed") && !out.contains("alive"),
        "{out}"
    );
    assert!(!std::path::Path::new(&stale).exists(), "{out}");
    assert!(std::path::Path::new(&young).exists());
    std::fs::remove_dir(&young).unwrap();
    assert_eq!(
        c.berth(&["ps", "-a", "--format", "{{.Names}}"])
            .ok()
            .stdout(),
        "alive\n"
    );
    c.berth(&["rm", "-f", "alive"]).ok();
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
    c.check_clean();
}

#[test]
fn network_none_and_host() {
    let c = Ctx::new();
    c.busybox("bb");
    // --network none: a private network namespace with only loopback, which is up.
    let links = c
        .berth(&["run", "--rm", "--network", "none", "bb", "ip", "-o", "link"])
        .ok()
        .stdout();
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    assert_eq!(
        c.berth(&[
            "run",
            "--rm",
            "--network",
            "none",
            "bb",
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            "127.0.0.1"
        ])
        .code(),
        0
    );
    // --network host sees the host's interfaces: the one of its default route. (Not a
    // count of links: tests running beside this one add and remove veths meanwhile.)
    let dev = sh("ip route show default | awk '{print $5; exit}'");
    let seen = c
        .berth(&["run", "--rm", "--network", "host", "bb", "ip", "-o", "link"])
        .ok()
        .stdout();
    assert!(!dev.trim().is_empty(), "no default route on the host");
    assert!(
        seen.contains(&format!(": {}:", dev.trim())),
        "{dev}: {seen}"
    );
    let ns = c
        .berth(&[
            "run",
            "--rm",
            "--network",
            "host",
            "bb",
            "readlink",
            "/proc/self/ns/net",
        ])
        .ok()
        .stdout();
    assert_eq!(ns.trim(), sh("readlink /proc/self/ns/net").trim());
    // Publishing needs a bridge network: with host or none, a clear refusal, exit 125.
    for mode in ["host", "none"] {
        let r = c.berth(&[
            "run",
            "--rm",
            "--network",
            mode,
            "-p",
            "8080:80",
            "bb",
            "true",
        ]);
        assert_eq!(r.code(), 125);
        assert!(
            r.stderr().contains("use a bridge network"),
            "{}",
            r.stderr()
        );
    }
}

#[test]
fn systemd_mode_prepares_what_systemd_needs() {
    let c = Ctx::new();
    c.busybox("bb");
    let out = c
        .berth(&[
            "run", "--rm", "--systemd", "--network", "none", "bb", "sh", "-c",
            "echo $container; for d in /run /run/lock /tmp /var/log/journal; do grep -q \" $d tmpfs \" /proc/mounts && echo $d; done; grep ' /sys/fs/cgroup/memory ' /proc/mounts | grep -c rw",
        ])
        .ok()
        .stdout();
    assert_eq!(out, "berth\n/run\n/run/lock\n/tmp\n/var/log/journal\n1\n");
    let id = c
        .berth(&["create", "--systemd", "bb", "sleep", "60"])
        .ok()
        .stdout();
    let i: serde_json::Value =
        serde_json::from_str(&c.berth(&["inspect", id.trim()]).ok().stdout()).unwrap();
    assert_eq!(i[0]["Config"]["StopSignal"], "SIGRTMIN+3");
    // The stop signal really reaches the init: a shell that traps it exits 0.
    c.berth(&["start", id.trim()]).ok();
    c.berth(&["rm", "-f", id.trim()]).ok();
    let id = c
        .berth(&[
            "run",
            "-d",
            "--systemd",
            "bb",
            "sh",
            "-c",
            // As systemd does: cgroups of its own below the container's.
            "mkdir /sys/fs/cgroup/pids/sub && trap 'exit 0' 37; echo ready; while true; do sleep 0.1; done",
        ])
        .ok()
        .stdout();
    // PID 1 ignores signals it has no handler for: wait until the trap is set.
    wait_for("the trap", Duration::from_secs(10), || {
        c.berth(&["logs", id.trim()]).stdout().contains("ready")
    });
    c.berth(&["stop", "-t", "5", id.trim()]).ok();
    let i: serde_json::Value =
        serde_json::from_str(&c.berth(&["inspect", id.trim()]).ok().stdout()).unwrap();
    assert_eq!(
        i[0]["State"]["ExitCode"], 0,
        "stopped by SIGRTMIN+3, not killed"
    );
    // Its cgroup went with it, the one made inside too.
    let cg = format!("/sys/fs/cgroup/pids/berth/{}", id.trim());
    assert!(!std::path::Path::new(&cg).exists(), "{cg} left behind");
}

#[test]
fn commit_keeps_acls_and_extended_attributes() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&[
        "run",
        "--name",
        "acl",
        "--network",
        "none",
        "bb",
        "sh",
        "-c",
        "echo data > /shared.txt",
    ])
    .ok();
    let v: serde_json::Value = serde_json::from_str(
        &c.berth(&["inspect", "--type", "container", "acl"])
            .ok()
            .stdout(),
    )
    .unwrap();
    let cid = v[0]["Id"].as_str().unwrap().to_string();
    let upper = c
        .root()
        .join("containers")
        .join(&cid)
        .join("upper/shared.txt");
    sh(&format!(
        "setfacl -m u:1234:rw {0} && setfattr -n user.origin -v staged {0}",
        upper.display()
    ));
    c.berth(&["commit", "acl", "acl:1"]).ok();
    // Through an archive into another store: the attributes travel in the layer.
    let tar = c.path("acl.tar");
    c.berth(&["save", "-o", tar.to_str().unwrap(), "acl:1"])
        .ok();
    let d = Ctx::new();
    d.berth(&["load", "-i", tar.to_str().unwrap()]).ok();
    d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "acl:1",
        "cat",
        "/shared.txt",
    ])
    .ok();
    let found = sh(&format!(
        "for f in {}/snapshots/*/fs/shared.txt; do getfacl -cn $f; getfattr --only-values -n user.origin $f; done",
        d.root().display()
    ));
    assert!(found.contains("user:1234:rw-"), "{found}");
    assert!(found.contains("staged"), "{found}");
}

#[test]
fn exec_with_a_tty_gets_its_own_pty() {
    let c = Ctx::new();
    c.busybox("bb");
    let id = c
        .berth(&["run", "-d", "--network", "none", "bb", "sleep", "60"])
        .ok()
        .stdout();
    let id = id.trim();
    // Without a terminal on our side the process still gets one of its own.
    let r = c.berth(&["exec", "-t", id, "sh", "-c", "tty; exit 3"]);
    assert_eq!(r.code(), 3);
    assert!(r.stdout().contains("/dev/pts/"), "{}", r.stdout());
    // Without -t it has none.
    let r = c.berth(&["exec", id, "sh", "-c", "tty || echo none"]);
    assert!(
        r.stdout().contains("not a tty") || r.stdout().contains("none"),
        "{}",
        r.stdout()
    );
    c.berth(&["rm", "-f", id]).ok();
}

/// This machine's cgroups are v1 (the v2 tree is mounted but has no memory/pids
/// controllers). In a mount namespace of its own the test mounts the v2 tree at
/// /sys/fs/cgroup, so berth (and libcontainer) see a pure v2 host: the container's
/// cgroup is created in the v2 tree, holds its processes, shows in `stats`, and is
/// removed with the container. Limits cannot be tested here (no controllers to bind).
#[test]
fn cgroup_v2_host_view() {
    let c = Ctx::new();
    c.busybox("bb");
    let b = format!("{} --root {}", berth_bin().display(), c.root().display());
    let script = format!(
        r#"set -e
mount -t cgroup2 none /sys/fs/cgroup
{b} run --rm --network none bb cat /proc/self/cgroup | grep '^0::/berth/'
id=$({b} run -d --network none bb sleep 30)
test -d /sys/fs/cgroup/berth/$id
grep -q . /sys/fs/cgroup/berth/$id/cgroup.procs
{b} stats --no-stream --format json $id | grep -q '"PIDs":1'
{b} rm -f $id >/dev/null
test ! -e /sys/fs/cgroup/berth/$id
echo v2-ok"#
    );
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("v2-ok"),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--shm-size` sizes /dev/shm; `--sysctl` sets namespaced kernel parameters and refuses
/// the ones that would change the host.
#[test]
fn shm_size_and_sysctls() {
    let c = Ctx::new();
    c.busybox("bb");
    let out = c
        .berth(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--shm-size",
            "16m",
            "--sysctl",
            "net.core.somaxconn=555",
            "--sysctl",
            "kernel.shmmni=1234",
            "bb",
            "sh",
            "-c",
            "df -k /dev/shm | tail -1; cat /proc/sys/net/core/somaxconn /proc/sys/kernel/shmmni",
        ])
        .ok()
        .stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].split_whitespace().nth(1), Some("16384"), "{out}");
    assert_eq!(&lines[1..], ["555", "1234"], "{out}");
    let r = c.berth(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--sysctl",
        "net.core.somaxconn=1",
        "bb",
        "true",
    ]);
    assert_eq!(r.code(), 125, "{}", r.stderr());
    assert!(r.stderr().contains("host's network"), "{}", r.stderr());
    let r = c.berth(&["run", "--rm", "--sysctl", "vm.swappiness=1", "bb", "true"]);
    assert_eq!(r.code(), 125, "{}", r.stderr());
}

#[test]
fn a_relative_command_runs_from_the_working_directory() {
    // `run --entrypoint scripts/run.sh` on an image with WORKDIR /opt/src: the kernel
    // resolves a name with a slash from the working directory; berth's check before the
    // start did so from / and refused it with 127.
    use std::os::unix::fs::PermissionsExt;
    let c = Ctx::new();
    c.busybox("bb");
    let ctx = c.root().join("relctx");
    std::fs::create_dir_all(ctx.join("src/scripts")).unwrap();
    let script = ctx.join("src/scripts/run.sh");
    std::fs::write(&script, "#!/bin/sh\necho \"in $(pwd): $*\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb\nWORKDIR /opt/src\nCOPY src .\n",
    )
    .unwrap();
    c.berth(&["build", "-q", "-t", "rel", ctx.to_str().unwrap()])
        .ok();
    for rt in [&[][..], &["--runtime", "runc"][..]] {
        let out = c
            .berth(
                &[
                    &["run", "--rm"],
                    rt,
                    &["--entrypoint", "scripts/run.sh", "rel", "a"],
                ]
                .concat(),
            )
            .ok()
            .stdout();
        assert_eq!(out, "in /opt/src: a\n", "{rt:?}");
    }
    assert_eq!(
        c.berth(&["run", "--rm", "rel", "scripts/run.sh", "b"])
            .ok()
            .stdout(),
        "in /opt/src: b\n"
    );
    // From another directory it is not there: 127, as Docker.
    let r = c.berth(&["run", "--rm", "-w", "/", "rel", "scripts/run.sh"]);
    assert_eq!(r.code(), 127, "{}", r.stderr());
    c.berth(&["run", "-d", "--name", "relx", "rel", "sleep", "30"])
        .ok();
    assert_eq!(
        c.berth(&["exec", "-w", "/opt", "relx", "src/scripts/run.sh", "c"])
            .ok()
            .stdout(),
        "in /opt: c\n"
    );
    c.berth(&["rm", "-f", "relx"]).ok();
}

#[test]
fn a_missing_working_directory_is_created() {
    // `-w /new/dir` (or a WORKDIR the image lacks): Docker's runc creates it; libcontainer
    // failed with "failed to unix syscall".
    let c = Ctx::new();
    c.busybox("bb");
    for rt in [&[][..], &["--runtime", "runc"][..]] {
        let out = c
            .berth(&[&["run", "--rm"], rt, &["-w", "/new/dir", "bb", "pwd"]].concat())
            .ok()
            .stdout();
        assert_eq!(out, "/new/dir\n", "{rt:?}");
    }
    // Also under --read-only and another user; a file in the way is a clear error.
    let out = c
        .berth(&[
            "run",
            "--rm",
            "--read-only",
            "-u",
            "app",
            "-w",
            "/srv/app",
            "bb",
            "pwd",
        ])
        .ok()
        .stdout();
    assert_eq!(out, "/srv/app\n");
    let r = c.berth(&["run", "--rm", "-w", "/etc/passwd", "bb", "pwd"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("working directory /etc/passwd"),
        "{}",
        r.stderr()
    );
}

#[test]
fn an_unknown_flag_before_the_image_is_a_flag_error_and_flags_after_it_are_the_commands() {
    // `run --pid host IMG` took "--pid" for the image ("no such image: --pid").
    let c = Ctx::new();
    c.busybox("bb");
    let r = c.berth(&["run", "--rm", "--bogus", "bb", "true"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("unexpected argument '--bogus'"),
        "{}",
        r.stderr()
    );
    let out = c
        .berth(&["run", "--rm", "bb", "echo", "--x", "-y"])
        .ok()
        .stdout();
    assert_eq!(out, "--x -y\n");
    c.berth(&["run", "-d", "--name", "h", "bb", "sleep", "30"])
        .ok();
    assert_eq!(
        c.berth(&["exec", "h", "echo", "-n", "--z"]).ok().stdout(),
        "--z"
    );
    assert!(c
        .berth(&["exec", "--nope", "h", "true"])
        .stderr()
        .contains("'--nope'"));
    c.berth(&["rm", "-f", "h"]).ok();
}
