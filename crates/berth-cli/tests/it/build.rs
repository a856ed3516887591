//! `berth build --check`: the Dockerfile front end from the command line.

use crate::common::*;

#[test]
fn check_lints_and_describes_a_dockerfile() {
    let c = Ctx::new();
    let ctx = c.path("app");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "ARG BASE=debian:bookworm\nFROM ${BASE} AS compile\nRUN make\nFROM compile as test\nRUN make test\nFROM debian:bookworm\nCOPY --from=compile /src/app /app\nCMD app\n",
    )
    .unwrap();
    let text = c
        .berth(&["build", "--check", ctx.to_str().unwrap()])
        .ok()
        .stdout();
    assert!(
        text.contains("Dockerfile:4: warning: FromAsCasing"),
        "{text}"
    );
    assert!(
        text.contains("Dockerfile:8: warning: JSONArgsRecommended"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &c.berth(&[
            "build",
            "--check",
            "--format",
            "json",
            ctx.to_str().unwrap(),
        ])
        .ok()
        .stdout(),
    )
    .unwrap();
    let stages = json["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    assert_eq!(stages[0]["name"], "compile");
    assert_eq!(stages[1]["base"], "compile");
    assert_eq!(stages[2]["start_line"], 6);
    // Errors point at the file and line, with the line shown.
    let bad = c.path("Dockerfile.bad");
    std::fs::write(&bad, "FROM scratch\nRUNN echo hi\n").unwrap();
    let r = c.berth(&[
        "build",
        "--check",
        "-f",
        bad.to_str().unwrap(),
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr()
            .contains("Dockerfile.bad:2: unknown instruction \"RUNN\""),
        "{}",
        r.stderr()
    );
    assert!(r.stderr().contains("RUNN echo hi"));
    // A base image that is neither local nor reachable: the FROM line, and what to do.
    c.berth(&["build", "--pull=false", ctx.to_str().unwrap()])
        .fails_with("Dockerfile:2: base image \"debian:bookworm\"");
}

/// A context directory with a Dockerfile and files.
fn context(c: &Ctx, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> String {
    let dir = c.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    for (p, content) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir.display().to_string()
}

fn build(c: &Ctx, args: &[&str]) -> Run {
    let mut a = vec!["build", "--progress", "plain"];
    a.extend_from_slice(args);
    c.berth(&a)
}

fn step_lines<'a>(log: &'a str, what: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(what)).collect()
}

const APP: &str = "ARG V=1
FROM base:1 AS compile
ARG V
RUN echo \"v=$V\" > /v.txt && rm /data/seed.txt
COPY a.txt /data/
COPY src /app/src
WORKDIR /app
ENV X=y
FROM base:1 AS final
COPY --from=compile /v.txt /data/ /out/
RUN cat /out/v.txt /out/a.txt && test ! -e /out/seed.txt
CMD [\"cat\", \"/out/v.txt\"]
";

#[test]
fn multi_stage_build_runs_and_explains_its_cache() {
    let c = Ctx::new();
    c.busybox("base:1");
    let dir = context(
        &c,
        "app",
        APP,
        &[
            ("a.txt", "hello\n"),
            ("src/app.py", "print(1)\n"),
            ("junk.log", "x"),
            (".dockerignore", "*.log\n"),
        ],
    );
    let r = build(&c, &["-t", "app:1", &dir]).ok();
    let id = r.stdout().trim().to_string();
    assert!(id.starts_with("sha256:"), "{}", r.stdout());
    assert!(
        r.stderr().contains("#") && r.stderr().contains("hello"),
        "RUN output is shown:\n{}",
        r.stderr()
    );
    assert_eq!(c.berth(&["run", "--rm", "app:1"]).ok().stdout(), "v=1\n");
    // RUN rm in the compile stage really hides the image's file there.
    c.berth(&["run", "--rm", "app:1", "test", "-e", "/data/seed.txt"])
        .ok();

    // A no-op rebuild is all cached and gives the same image.
    let r = build(&c, &["-t", "app:1", &dir]).ok();
    assert_eq!(r.stdout().trim(), id);
    assert!(
        step_lines(&r.stderr(), "cache miss").is_empty(),
        "{}",
        r.stderr()
    );
    // Touching a file, or changing an ignored one, changes nothing.
    sh(&format!(
        "touch {dir}/a.txt {dir}/src/app.py; echo more >> {dir}/junk.log"
    ));
    assert_eq!(build(&c, &[&dir]).ok().stdout().trim(), id);
    // Changing a file says which, and reruns only what follows it.
    std::fs::write(format!("{dir}/a.txt"), "hello again\n").unwrap();
    let log = build(&c, &[&dir]).ok().stderr();
    let misses = step_lines(&log, "cache miss");
    assert!(misses[0].contains("a.txt changed"), "{log}");
    assert!(
        !log.contains("RUN echo") || step_lines(&log, "#2 cache miss").is_empty(),
        "{log}"
    );
    assert!(log.contains("hello again"), "{log}");
    // A build arg busts the steps that use it, and says so.
    let log = build(&c, &["--build-arg", "V=2", &dir]).ok().stderr();
    assert!(log.contains("build arg V changed: \"1\" -> \"2\""), "{log}");
    // --no-cache runs everything.
    let log = build(&c, &["--no-cache", &dir]).ok().stderr();
    assert!(!log.contains("CACHED"), "{log}");
}

#[test]
fn build_errors_point_at_the_dockerfile_and_tag_nothing() {
    let c = Ctx::new();
    c.busybox("base:1");
    let dir = context(&c, "typo", "FROM base:1\n\nRUNN echo hi\n", &[]);
    build(&c, &["-t", "bad:1", &dir]).fails_with("Dockerfile:3: unknown instruction");

    let dir = context(
        &c,
        "fails",
        "FROM base:1\nRUN echo line-one && echo line-two >&2 && exit 3\n",
        &[],
    );
    let r = build(&c, &["-t", "bad:1", &dir]);
    let e = r.stderr();
    assert_eq!(r.code(), 1);
    assert!(
        e.contains("Dockerfile:2: RUN failed with exit code 3"),
        "{e}"
    );
    assert!(e.contains("line-two") && e.contains("full log: "), "{e}");
    let logfile = e
        .split("full log: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim();
    assert!(std::fs::read_to_string(logfile)
        .unwrap()
        .contains("line-one"));

    let dir = context(
        &c,
        "ignored",
        "FROM base:1\nCOPY secret.env /app/\n",
        &[
            ("secret.env", "X=1"),
            (".dockerignore", "# keep secrets out\n*.env\n"),
        ],
    );
    let e = build(&c, &["-t", "bad:1", &dir])
        .fails_with("Dockerfile:2:")
        .stderr();
    assert!(
        e.contains("excluded by") && e.contains(".dockerignore:2"),
        "{e}"
    );

    let dir = context(
        &c,
        "crlf",
        "FROM base:1\nCOPY run.sh /\nRUN /run.sh\n",
        &[("run.sh", "#!/bin/sh\r\necho hi\r\n")],
    );
    sh(&format!("chmod +x {dir}/run.sh"));
    let e = build(&c, &["-t", "bad:1", &dir])
        .fails_with("Dockerfile:3:")
        .stderr();
    assert!(e.contains("CRLF"), "{e}");
    // The same script as an image's entrypoint: `run` says so too (127, as Docker).
    std::fs::write(
        format!("{dir}/Dockerfile"),
        "FROM base:1\nCOPY run.sh /\nENTRYPOINT [\"/run.sh\"]\n",
    )
    .unwrap();
    build(&c, &["-t", "crlf:1", &dir]).ok();
    let r = c.berth(&["run", "--rm", "crlf:1"]);
    assert_eq!(r.code(), 127);
    assert!(r.stderr().contains("CRLF"), "{}", r.stderr());
    c.berth(&["rmi", "crlf:1"]).ok();

    let images = c.berth(&["images", "--format", "json"]).ok().stdout();
    assert!(
        !images.contains("bad"),
        "a failed build tags nothing: {images}"
    );
    c.check_clean();
}

#[test]
fn target_builds_only_needed_stages_and_in_parallel() {
    let c = Ctx::new();
    c.busybox("base:1");
    let dir = context(
        &c,
        "par",
        "FROM base:1 AS a\nRUN sleep 3 && echo a > /a\n\
         FROM base:1 AS b\nRUN sleep 3 && echo b > /b\n\
         FROM base:1 AS broken\nRUN exit 1\n\
         FROM base:1 AS c\nCOPY --from=a /a /\nCOPY --from=b /b /\nRUN cat /a /b\n",
        &[],
    );
    let t = std::time::Instant::now();
    let r = build(&c, &["--target", "c", "-t", "par:1", &dir]).ok();
    let took = t.elapsed();
    assert!(
        !r.stderr().contains("exit 1"),
        "the broken stage is not built:\n{}",
        r.stderr()
    );
    assert!(
        took.as_secs_f64() < 5.8,
        "stages a and b ran one after the other: {took:?}"
    );
    assert_eq!(
        c.berth(&["run", "--rm", "par:1", "cat", "/a", "/b"])
            .ok()
            .stdout(),
        "a\nb\n"
    );
    build(&c, &["--target", "broken", &dir]).fails_with("Dockerfile:6:");
}

#[test]
fn source_date_epoch_gives_the_same_image_twice() {
    let c = Ctx::new();
    c.busybox("base:1");
    let dir = context(
        &c,
        "repro",
        "FROM base:1\nCOPY a.txt /\nRUN echo built > /b.txt && mkdir -p /var/x\nENV A=1\n",
        &[("a.txt", "hello\n")],
    );
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = build(
            &c,
            &[
                "--no-cache",
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                &dir,
            ],
        )
        .ok();
        ids.push(r.stdout().trim().to_string());
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_eq!(ids[0], ids[1]);
    let other = build(&c, &["--no-cache", &dir]).ok().stdout();
    assert_ne!(other.trim(), ids[0], "without it, timestamps differ");
}

#[test]
fn outputs_secrets_cache_mounts_heredocs_archives_and_squash() {
    let c = Ctx::new();
    c.busybox("base:1");
    let archive = c.path("files.tar");
    make_tar(&archive, &[("inside/one.txt", b"one\n")]);
    let dir = context(
        &c,
        "feat",
        "FROM base:1\n\
         ADD files.tar /opt/\n\
         RUN --mount=type=secret,id=token,required=true cat /run/secrets/token > /dev/null && test ! -e /run/secrets/token.copy\n\
         RUN --mount=type=cache,target=/cache echo run >> /cache/count && wc -l < /cache/count > /count\n\
         RUN <<EOF\necho from-heredoc > /heredoc.txt\nEOF\n\
         RUN <<EOF\n#!/bin/sh\necho shebang > /shebang.txt\nEOF\n\
         COPY <<EOF /etc/motd\nhello $NAME\nEOF\n\
         COPY --chown=app:app --chmod=640 a.txt /home/app/\n",
        &[("a.txt", "a\n")],
    );
    std::fs::copy(&archive, format!("{dir}/files.tar")).unwrap();
    let secret = c.path("token");
    std::fs::write(&secret, "s3cret").unwrap();
    let sec = format!("id=token,src={}", secret.display());
    let out = c.path("out");
    let tar = c.path("out.tar");
    build(
        &c,
        &[
            "--secret",
            &sec,
            "-t",
            "feat:1",
            "--output",
            &format!("type=local,dest={}", out.display()),
            "--output",
            &format!("type=tar,dest={}", tar.display()),
            &dir,
        ],
    )
    .ok();
    assert_eq!(
        std::fs::read_to_string(out.join("opt/inside/one.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("heredoc.txt")).unwrap(),
        "from-heredoc\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("shebang.txt")).unwrap(),
        "shebang\n"
    );
    assert!(
        !out.join("run/secrets/token").exists(),
        "the secret is not in the image"
    );
    assert!(
        !out.join("cache").exists(),
        "the cache mount point is not in the image"
    );
    assert!(sh(&format!("tar -tf {}", tar.display())).contains("heredoc.txt"));
    let r = c
        .berth(&[
            "run",
            "--rm",
            "feat:1",
            "sh",
            "-c",
            "cat /count; stat -c '%U %a' /home/app/a.txt",
        ])
        .ok();
    assert_eq!(r.stdout(), "1\napp 640\n");
    // The cache mount keeps its content across builds, even with --no-cache.
    build(&c, &["--no-cache", "--secret", &sec, "-t", "feat:2", &dir]).ok();
    assert_eq!(
        c.berth(&["run", "--rm", "feat:2", "cat", "/count"])
            .ok()
            .stdout(),
        "2\n"
    );
    // A missing required secret says how to give it.
    build(&c, &["--no-cache", &dir]).fails_with("--secret id=token");
    // --squash: the base's layer plus one.
    build(&c, &["--squash", "--secret", &sec, "-t", "feat:sq", &dir]).ok();
    let layers = c.inspect("feat:sq")["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(layers, 2);
    c.berth(&[
        "run",
        "--rm",
        "feat:sq",
        "test",
        "-f",
        "/opt/inside/one.txt",
    ])
    .ok();
}

#[test]
fn build_cache_moves_between_stores_with_its_cache_mounts() {
    let a = Ctx::new();
    a.busybox("base:1");
    let df =
        "FROM base:1\nRUN --mount=type=cache,target=/cache echo warm > /cache/w\nCOPY a.txt /\n";
    let dir = context(&a, "ctx", df, &[("a.txt", "a\n")]);
    let cache = a.path("cache");
    let to = format!("type=local,dest={}", cache.display());
    let id = build(&a, &["--cache-to", &to, &dir]).ok().stdout();

    // The same base image in another store (saved and loaded, so the same id).
    let base = a.path("base.tar");
    a.berth(&["save", "-o", base.to_str().unwrap(), "base:1"])
        .ok();
    let b = Ctx::new();
    b.berth(&["load", "-i", base.to_str().unwrap()]).ok();
    let from = format!("type=local,src={}", cache.display());
    let r = build(&b, &["--cache-from", &from, &dir]).ok();
    assert_eq!(r.stdout(), id, "same image from the imported cache");
    assert!(!r.stderr().contains("cache miss"), "{}", r.stderr());
    let m = std::fs::read_dir(b.root().join("build/cache-mounts"))
        .unwrap()
        .count();
    assert_eq!(m, 1, "the cache mount came along");
    b.check_clean();

    // builder prune drops the records; images survive, the next build runs again.
    b.berth(&["builder", "prune", "-f"]).ok();
    let r = build(&b, &[&dir]).ok();
    assert!(
        r.stderr().contains("cache miss: no earlier build"),
        "{}",
        r.stderr()
    );
    b.check_clean();
}

#[test]
fn berth_images_run_in_podman_and_buildah_images_run_in_berth() {
    let c = Ctx::new();
    c.busybox("base:1");
    let dir = context(
        &c,
        "pod",
        "FROM base:1\nRUN rm /data/seed.txt && echo built > /built\nCMD [\"cat\", \"/built\"]\n",
        &[],
    );
    build(&c, &["-t", "localhost/pod:1", &dir]).ok();
    let arch = c.path("pod.tar");
    c.berth(&["save", "-o", arch.to_str().unwrap(), "localhost/pod:1"])
        .ok();
    let p = Podman::new();
    p.run(&format!("load -i {}", arch.display()));
    let out = p.run("run --rm --network none localhost/pod:1 sh -c 'cat /built; test ! -e /data/seed.txt && echo gone'");
    assert_eq!(out, "built\ngone\n");

    // buildah builds from the same busybox rootfs; berth runs the result.
    let bdir = c.path("buildah");
    std::fs::create_dir_all(&bdir).unwrap();
    std::fs::copy(busybox_tar(), bdir.join("busybox.tar")).unwrap();
    std::fs::write(
        bdir.join("Dockerfile"),
        "FROM scratch\nADD busybox.tar /\nRUN echo from-buildah > /who\nCMD [\"cat\", \"/who\"]\n",
    )
    .unwrap();
    let broot = c.path("buildah-store");
    let oci = c.path("buildah.tar");
    sh(&format!(
        "buildah --root {0}/root --runroot {0}/run --storage-driver vfs bud --isolation chroot -t localhost/fromb:1 {1} >/dev/null && \
         buildah --root {0}/root --runroot {0}/run --storage-driver vfs push localhost/fromb:1 oci-archive:{2}:localhost/fromb:1 >/dev/null",
        broot.display(),
        bdir.display(),
        oci.display()
    ));
    c.berth(&["load", "-i", oci.to_str().unwrap()]).ok();
    assert_eq!(
        c.berth(&["run", "--rm", "localhost/fromb:1"]).ok().stdout(),
        "from-buildah\n"
    );
    let _ = std::fs::remove_dir_all(&broot);
}

#[test]
fn deep_images_build_and_run_past_the_overlay_mount_limit() {
    let c = Ctx::new();
    c.busybox("base:1");
    let mut df =
        String::from("FROM base:1\nRUN rm /data/seed.txt && mkdir /keep && echo 0 > /keep/n\n");
    let mut files = Vec::new();
    for i in 0..60 {
        df.push_str(&format!("COPY f{i} /files/\n"));
        files.push((format!("f{i}"), format!("{i}\n")));
    }
    df.push_str("RUN test ! -e /data/seed.txt && cat /files/f0 /files/f59 /keep/n > /sum\n");
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let dir = context(&c, "deep", &df, &files);
    // Merge the bottom layers early (at 8), so this test sees the merge at work.
    let r = Run {
        out: c
            .cmd(&["build", "-t", "deep:1", &dir])
            .env("BERTH_MAX_LOWERS", "8")
            .output()
            .unwrap(),
    }
    .ok();
    assert!(r.stdout().starts_with("sha256:"));
    // 63 layers: more than the long-path mount could take; berth run mounts them all.
    let layers = c.inspect("deep:1")["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(layers, 63);
    let out = c
        .berth(&[
            "run",
            "--rm",
            "deep:1",
            "sh",
            "-c",
            "cat /sum; ls /files | wc -l; test ! -e /data/seed.txt && echo gone",
        ])
        .ok();
    assert_eq!(out.stdout(), "0\n59\n0\n60\ngone\n");
}

#[test]
fn dockerfile_from_stdin_onbuild_and_ignore_file_beside_dockerfile() {
    let c = Ctx::new();
    c.busybox("base:1");
    // A Dockerfile on stdin with an empty context.
    let df = c.path("stdin.Dockerfile");
    std::fs::write(
        &df,
        "FROM base:1\nONBUILD RUN echo triggered > /onbuild\nRUN echo parent > /p\n",
    )
    .unwrap();
    c.berth_stdin(&["build", "-q", "-t", "parent:1", "-"], &df)
        .ok();
    // A child of it runs the trigger first.
    let dir = context(
        &c,
        "child",
        "FROM parent:1\nCOPY . /ctx/\n",
        &[("keep.txt", "k"), ("drop.txt", "d")],
    );
    std::fs::create_dir_all(c.path("child/build")).unwrap();
    std::fs::rename(
        c.path("child/Dockerfile"),
        c.path("child/build/App.Dockerfile"),
    )
    .unwrap();
    std::fs::write(
        c.path("child/build/App.Dockerfile.dockerignore"),
        "drop.txt\nbuild\n",
    )
    .unwrap();
    std::fs::write(c.path("child/.dockerignore"), "keep.txt\n").unwrap();
    let f = c.path("child/build/App.Dockerfile");
    build(&c, &["-f", f.to_str().unwrap(), "-t", "child:1", &dir]).ok();
    // A whole context as a (gzip) tar on stdin.
    let tctx = c.path("tarctx");
    std::fs::create_dir_all(&tctx).unwrap();
    std::fs::write(tctx.join("keep.txt"), "k").unwrap();
    std::fs::write(
        tctx.join("Dockerfile"),
        "FROM base:1\nCOPY keep.txt /from-tar\n",
    )
    .unwrap();
    let tarball = c.path("ctx.tgz");
    sh(&format!(
        "tar -C {} -czf {} .",
        tctx.display(),
        tarball.display()
    ));
    c.berth_stdin(&["build", "-q", "-t", "fromtar:1", "-"], &tarball)
        .ok();
    c.berth(&["run", "--rm", "fromtar:1", "test", "-f", "/from-tar"])
        .ok();
    let out = c
        .berth(&[
            "run",
            "--rm",
            "child:1",
            "sh",
            "-c",
            "cat /onbuild /p; ls /ctx",
        ])
        .ok();
    assert_eq!(out.stdout(), "triggered\nparent\nkeep.txt\n");
}

#[test]
fn a_base_without_path_starts_with_the_default_one() {
    // BuildKit's rule: a stage whose base sets no PATH gets the default, so
    // `ENV PATH=/opt/bin:$PATH` extends it (it became "/opt/bin:" and `ls` was not found).
    let c = Ctx::new();
    c.busybox("bb");
    let dir = context(
        &c,
        "pathctx",
        "FROM bb\nENV PATH=/opt/bin:$PATH\nRUN mkdir -p /opt/bin && printf '#!/bin/sh\\necho mine\\n' > /opt/bin/mine && chmod +x /opt/bin/mine && ls / >/dev/null\nCMD [\"mine\"]\n",
        &[],
    );
    build(&c, &["-t", "pathed", &dir]).ok();
    let env = c.inspect("pathed")["Config"]["Env"].clone();
    assert_eq!(
        env,
        serde_json::json!([
            "PATH=/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ])
    );
    assert_eq!(c.berth(&["run", "--rm", "pathed"]).ok().stdout(), "mine\n");
    assert_eq!(
        c.berth(&["run", "--rm", "pathed", "ls", "/opt/bin"])
            .ok()
            .stdout(),
        "mine\n"
    );
}
