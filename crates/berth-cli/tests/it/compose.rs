//! `berth compose` against real containers: dependency conditions with the waiting
//! message, profiles, .env interpolation, `up` twice recreating only what changed, two
//! projects side by side, `down -v` cleanup, `config`, `kube`, run/exec/logs/ps/ls, and
//! errors with file:line.

use crate::common::*;
use std::path::{Path, PathBuf};

/// A project directory with `files` (name, text) in the test's temp dir.
fn project(c: &Ctx, dir: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = c.path(dir);
    std::fs::create_dir_all(&d).unwrap();
    for (name, text) in files {
        let f = d.join(name);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
    d
}

/// `berth compose ARGS` run in `dir`.
fn compose(c: &Ctx, dir: &Path, args: &[&str]) -> Run {
    let mut cmd = c.cmd(&[&["compose"], args].concat());
    cmd.current_dir(dir);
    cmd.env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES");
    Run {
        out: cmd.output().expect("run berth compose"),
    }
}

fn ps_json(c: &Ctx, dir: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    compose(c, dir, &[&["ps", "-a", "--format", "json"], extra].concat())
        .ok()
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn by_name<'a>(list: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    list.iter()
        .find(|x| x["Name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {list:?}"))
}

const HEALTH_APP: &str = r#"
services:
  db:
    image: bb
    command: sh -c 'sleep 2; touch /tmp/ready; exec sleep 600'
    stop_grace_period: 1s
    healthcheck:
      test: test -f /tmp/ready || (echo not ready yet; exit 1)
      interval: 300ms
      retries: 50
  migrate:
    image: bb
    command: sh -c 'echo migrated'
  web:
    image: bb
    command: sleep 600
    stop_grace_period: 1s
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
"#;

#[test]
fn up_waits_for_healthy_and_completed_dependencies() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(&c, "app", &[("compose.yaml", HEALTH_APP)]);
    let r = compose(&c, &d, &["up", "-d"]).ok();
    let err = r.stderr();
    assert!(
        err.contains("web: waiting for db to be healthy, last probe: not ready yet"),
        "{err}"
    );
    // web is created only once db is healthy and migrate has finished.
    let healthy = err.find("web: db is healthy").expect("db healthy line");
    let web_created = err
        .find("Container app-web-1  Created")
        .expect("web created");
    assert!(healthy < web_created, "{err}");
    let list = ps_json(&c, &d, &[]);
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(by_name(&list, "app-db-1")["Health"], "healthy");
    assert_eq!(by_name(&list, "app-web-1")["State"], "running");
    assert_eq!(by_name(&list, "app-migrate-1")["State"], "exited");
    assert_eq!(by_name(&list, "app-migrate-1")["ExitCode"], 0);
    let web = by_name(&list, "app-web-1");
    assert_eq!(web["Labels"]["com.docker.compose.project"], "app");
    assert_eq!(web["Labels"]["com.docker.compose.service"], "web");
    assert_eq!(web["Labels"]["com.docker.compose.container-number"], "1");
    assert_eq!(web["Labels"]["com.docker.compose.oneoff"], "False");
    assert_eq!(
        web["Labels"]["com.docker.compose.config-hash"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert!(compose(&c, &d, &["logs", "migrate"])
        .ok()
        .stdout()
        .contains("app-migrate-1  | migrated"));
    // `ps` without -a shows running containers only.
    let running = compose(&c, &d, &["ps"]).ok().stdout();
    assert!(
        running.contains("app-web-1") && !running.contains("app-migrate-1"),
        "{running}"
    );
    compose(&c, &d, &["down"]).ok();
    assert!(ps_json(&c, &d, &[]).is_empty());
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
}

#[test]
fn a_failed_dependency_stops_up_before_its_dependants() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "fail",
        &[(
            "compose.yaml",
            "services:\n  migrate:\n    image: bb\n    command: sh -c 'exit 3'\n  web:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n    depends_on:\n      migrate:\n        condition: service_completed_successfully\n",
        )],
    );
    compose(&c, &d, &["up", "-d"]).fails_with(
        "service migrate didn't complete successfully: fail-migrate-1 exited with code 3",
    );
    let list = ps_json(&c, &d, &[]);
    assert!(list.iter().all(|x| x["Name"] != "fail-web-1"), "{list:?}");
    // A service_healthy dependency without a healthcheck is refused, not waited on forever.
    std::fs::write(
        d.join("compose.yaml"),
        "services:\n  db:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n  web:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n    depends_on:\n      db: {condition: service_healthy}\n",
    )
    .unwrap();
    compose(&c, &d, &["up", "-d", "--remove-orphans"]).fails_with("db has no healthcheck");
    compose(&c, &d, &["down", "--remove-orphans"]).ok();
}

#[test]
fn profiles_choose_services() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "prof",
        &[(
            "compose.yaml",
            "services:\n  app:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n  debug:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n    profiles: [debug]\n",
        )],
    );
    compose(&c, &d, &["up", "-d"]).ok();
    let names: Vec<String> = ps_json(&c, &d, &[])
        .iter()
        .map(|x| x["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["prof-app-1"]);
    compose(&c, &d, &["--profile", "debug", "up", "-d"]).ok();
    let names: Vec<String> = ps_json(&c, &d, &[])
        .iter()
        .map(|x| x["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["prof-app-1", "prof-debug-1"]);
    assert_eq!(
        compose(&c, &d, &["--profile", "debug", "config", "--services"])
            .ok()
            .stdout(),
        "app\ndebug\n"
    );
    assert_eq!(
        compose(&c, &d, &["config", "--profiles"]).ok().stdout(),
        "debug\n"
    );
    // down without the profile still removes the profiled service's container.
    compose(&c, &d, &["down"]).ok();
    assert!(ps_json(&c, &d, &[]).is_empty());
}

#[test]
fn dotenv_interpolation_and_required_variables() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "envy",
        &[
            (".env", "MSG=from dotenv\nCOUNT=3\n"),
            (
                "compose.yaml",
                "services:\n  hello:\n    image: bb\n    command: [sh, -c, 'echo \"$$MSG / ${MSG} / ${COUNT:-0} / ${UNSET:-dflt} / $$SVC\"']\n    environment:\n      MSG: ${MSG}\n      SVC: only-in-container\n",
            ),
        ],
    );
    let out = compose(&c, &d, &["run", "--rm", "hello"]).ok().stdout();
    assert_eq!(
        out,
        "from dotenv / from dotenv / 3 / dflt / only-in-container\n"
    );
    // The shell environment wins over .env.
    let mut cmd = c.cmd(&["compose", "config"]);
    cmd.current_dir(&d).env("MSG", "from shell");
    let out = cmd.output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("MSG: from shell"));
    std::fs::write(
        d.join("compose.yaml"),
        "services:\n  hello:\n    image: ${IMAGE:?set IMAGE to the image to run}\n",
    )
    .unwrap();
    compose(&c, &d, &["up", "-d"]).fails_with(
        "compose.yaml:3: services.hello.image: required variable IMAGE is missing a value: set IMAGE to the image to run",
    );
}

#[test]
fn up_again_recreates_only_what_changed() {
    let c = Ctx::new();
    c.busybox("bb");
    let file = |greeting: &str| {
        format!("services:\n  stable:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n  changing:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n    environment:\n      GREETING: {greeting}\n")
    };
    let d = project(&c, "twice", &[("compose.yaml", &file("hello"))]);
    compose(&c, &d, &["up", "-d"]).ok();
    let before = ps_json(&c, &d, &[]);
    let r = compose(&c, &d, &["up", "-d"]).ok();
    assert!(
        r.stderr().contains("Container twice-stable-1  Running"),
        "{}",
        r.stderr()
    );
    assert!(
        r.stderr().contains("Container twice-changing-1  Running"),
        "{}",
        r.stderr()
    );
    std::fs::write(d.join("compose.yaml"), file("bonjour")).unwrap();
    let r = compose(&c, &d, &["up", "-d"]).ok();
    assert!(
        r.stderr().contains("Container twice-changing-1  Recreated"),
        "{}",
        r.stderr()
    );
    let after = ps_json(&c, &d, &[]);
    assert_eq!(
        by_name(&before, "twice-stable-1")["ID"],
        by_name(&after, "twice-stable-1")["ID"]
    );
    assert_ne!(
        by_name(&before, "twice-changing-1")["ID"],
        by_name(&after, "twice-changing-1")["ID"]
    );
    assert_eq!(
        compose(&c, &d, &["exec", "changing", "sh", "-c", "echo $GREETING"])
            .ok()
            .stdout(),
        "bonjour\n"
    );
    // --scale adds replicas and takes them away again.
    compose(&c, &d, &["up", "-d", "--scale", "stable=2"]).ok();
    let names: Vec<String> = ps_json(&c, &d, &["stable"])
        .iter()
        .map(|x| x["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["twice-stable-1", "twice-stable-2"]);
    assert_eq!(
        compose(&c, &d, &["exec", "--index", "2", "stable", "true"]).code(),
        0
    );
    compose(&c, &d, &["up", "-d"]).ok();
    assert_eq!(ps_json(&c, &d, &["stable"]).len(), 1);
    // A service removed from the file is an orphan until --remove-orphans.
    std::fs::write(
        d.join("compose.yaml"),
        "services:\n  stable:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n",
    )
    .unwrap();
    let r = compose(&c, &d, &["up", "-d"]).ok();
    assert!(
        r.stderr().contains("orphan container twice-changing-1"),
        "{}",
        r.stderr()
    );
    compose(&c, &d, &["up", "-d", "--remove-orphans"]).ok();
    assert_eq!(ps_json(&c, &d, &[]).len(), 1);
    compose(&c, &d, &["down"]).ok();
}

#[test]
fn two_projects_with_the_same_services_side_by_side() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "shared",
        &[("compose.yaml", "services:\n  web:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n    volumes: [data:/data]\nvolumes:\n  data: {}\n")],
    );
    compose(&c, &d, &["-p", "one", "up", "-d"]).ok();
    compose(&c, &d, &["-p", "two", "up", "-d"]).ok();
    compose(
        &c,
        &d,
        &[
            "-p",
            "one",
            "exec",
            "web",
            "sh",
            "-c",
            "echo one > /data/who",
        ],
    )
    .ok();
    compose(
        &c,
        &d,
        &[
            "-p",
            "two",
            "exec",
            "web",
            "sh",
            "-c",
            "echo two > /data/who",
        ],
    )
    .ok();
    assert_eq!(
        compose(&c, &d, &["-p", "one", "exec", "web", "cat", "/data/who"])
            .ok()
            .stdout(),
        "one\n"
    );
    let ls = compose(&c, &d, &["ls"]).ok().stdout();
    assert!(
        ls.contains("one") && ls.contains("two") && ls.contains("running(1)"),
        "{ls}"
    );
    compose(&c, &d, &["-p", "one", "down", "-v"]).ok();
    let gone = c
        .cmd(&["compose", "-p", "one", "ps", "-a", "--format", "json"])
        .current_dir(&d)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&gone.stdout),
        "",
        "project one is gone"
    );
    let mut cmd = c.cmd(&["compose", "-p", "two", "ps", "--format", "json"]);
    cmd.current_dir(&d);
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    assert!(out.contains("two-web-1"), "{out}");
    assert_eq!(
        compose(&c, &d, &["-p", "two", "exec", "web", "cat", "/data/who"])
            .ok()
            .stdout(),
        "two\n"
    );
    let vols = c.berth(&["volume", "ls", "-q"]).ok().stdout();
    assert_eq!(vols, "two_data\n");
    compose(&c, &d, &["-p", "two", "down", "-v"]).ok();
}

#[test]
fn down_v_removes_volumes_containers_and_mounts() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "clean",
        &[
            ("secret.txt", "s3cret\n"),
            (
                "compose.yaml",
                "services:\n  app:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n    volumes:\n      - data:/data\n      - /anon\n      - type: tmpfs\n        target: /scratch\n    secrets: [token]\nvolumes:\n  data: {}\nsecrets:\n  token:\n    file: ./secret.txt\n",
            ),
        ],
    );
    compose(&c, &d, &["up", "-d"]).ok();
    assert_eq!(
        compose(&c, &d, &["exec", "app", "cat", "/run/secrets/token"])
            .ok()
            .stdout(),
        "s3cret\n"
    );
    assert!(compose(
        &c,
        &d,
        &["exec", "app", "grep", " /scratch ", "/proc/mounts"]
    )
    .ok()
    .stdout()
    .contains("tmpfs"));
    compose(&c, &d, &["exec", "app", "sh", "-c", "echo keep > /data/f"]).ok();
    // down without -v keeps the named volume's data for the next up.
    compose(&c, &d, &["down"]).ok();
    compose(&c, &d, &["up", "-d"]).ok();
    assert_eq!(
        compose(&c, &d, &["exec", "app", "cat", "/data/f"])
            .ok()
            .stdout(),
        "keep\n"
    );
    let r = compose(&c, &d, &["down", "-v"]).ok();
    assert!(
        r.stderr().contains("Volume clean_data  Removed"),
        "{}",
        r.stderr()
    );
    assert_eq!(c.berth(&["ps", "-aq"]).ok().stdout(), "");
    assert_eq!(c.berth(&["volume", "ls", "-q"]).ok().stdout(), "");
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
    c.check_clean();
}

#[test]
fn config_prints_the_merged_interpolated_model() {
    let c = Ctx::new();
    let d = project(
        &c,
        "cfg",
        &[
            (".env", "TAG=1.0\n"),
            (
                "compose.yaml",
                "x-base: &base\n  restart: always\nservices:\n  web:\n    <<: *base\n    image: bb:${TAG}\n    environment: [A=1]\n    depends_on: [db]\n  db:\n    image: bb\n",
            ),
            (
                "prod.yaml",
                "services:\n  web:\n    environment:\n      B: '2'\n    deploy:\n      replicas: 2\n",
            ),
        ],
    );
    let out = compose(&c, &d, &["-f", "compose.yaml", "-f", "prod.yaml", "config"])
        .ok()
        .stdout();
    let v: serde_json::Value = serde_yaml::from_str(&out).expect("config prints YAML");
    assert_eq!(v["name"], "cfg");
    let web = &v["services"]["web"];
    assert_eq!(web["image"], "bb:1.0");
    assert_eq!(web["restart"], "always");
    assert_eq!(web["environment"], serde_json::json!({"A": "1", "B": "2"}));
    assert_eq!(web["depends_on"]["db"]["condition"], "service_started");
    assert_eq!(web["deploy"]["replicas"], 2);
    assert!(v.get("x-base").is_none());
    // The output is itself a valid compose file with the same model.
    std::fs::write(d.join("resolved.yaml"), &out).unwrap();
    let again = compose(&c, &d, &["-f", "resolved.yaml", "config"])
        .ok()
        .stdout();
    assert_eq!(again, out);
    let json = compose(&c, &d, &["config", "--format", "json"])
        .ok()
        .stdout();
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["services"]["db"]["image"], "bb");
}

#[test]
fn kube_writes_manifests_that_parse_back() {
    let c = Ctx::new();
    let d = project(
        &c,
        "k8s",
        &[
            ("app.conf", "key=value\n"),
            (
                "compose.yaml",
                "services:\n  api:\n    image: example/api:2\n    ports: ['8080:80']\n    deploy: {replicas: 2}\n    volumes: [data:/var/lib/api]\n    configs: [{source: appconf, target: /etc/api.conf}]\n    healthcheck: {test: [CMD, /bin/check], interval: 5s}\n    restart: always\nvolumes:\n  data: {}\nconfigs:\n  appconf: {file: ./app.conf}\n",
            ),
        ],
    );
    let out_dir = c.path("manifests");
    let r = compose(&c, &d, &["kube", "-o", out_dir.to_str().unwrap()]).ok();
    let mut files: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    assert_eq!(
        files,
        vec![
            "api-deployment.yaml",
            "api-service.yaml",
            "appconf-configmap.yaml",
            "data-persistentvolumeclaim.yaml"
        ]
    );
    assert_eq!(r.stdout().lines().count(), 4);
    let read = |f: &str| -> serde_json::Value {
        serde_yaml::from_str(&std::fs::read_to_string(out_dir.join(f)).unwrap()).unwrap()
    };
    let dep = read("api-deployment.yaml");
    assert_eq!(dep["apiVersion"], "apps/v1");
    assert_eq!(dep["kind"], "Deployment");
    assert_eq!(dep["spec"]["replicas"], 2);
    let ctr = &dep["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(ctr["image"], "example/api:2");
    assert_eq!(ctr["ports"][0]["containerPort"], 80);
    assert_eq!(
        ctr["readinessProbe"]["exec"]["command"],
        serde_json::json!(["/bin/check"])
    );
    let svc = read("api-service.yaml");
    assert_eq!(
        (
            svc["kind"].as_str(),
            svc["spec"]["ports"][0]["port"].as_i64()
        ),
        (Some("Service"), Some(8080))
    );
    assert_eq!(
        read("appconf-configmap.yaml")["data"]["appconf"],
        "key=value\n"
    );
    assert_eq!(
        read("data-persistentvolumeclaim.yaml")["spec"]["accessModes"][0],
        "ReadWriteOnce"
    );
    // Without -o: one stream of documents.
    let stream = compose(&c, &d, &["kube"]).ok().stdout();
    let docs: Vec<serde_json::Value> = stream
        .split("---\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| serde_yaml::from_str(s).unwrap())
        .collect();
    assert_eq!(docs.len(), 4);
}

#[test]
fn errors_name_the_file_line_and_key() {
    let c = Ctx::new();
    let d = project(
        &c,
        "errs",
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: bb\n    enviroment:\n      A: 1\n",
        )],
    );
    let r = compose(&c, &d, &["config"]).fails_with(
        "compose.yaml:4: unknown key \"enviroment\" in services.web (did you mean \"environment\"?)",
    );
    assert_ne!(r.code(), 0);
    std::fs::write(
        d.join("compose.yaml"),
        "services:\n  a:\n    image: bb\n    depends_on: [b]\n  b:\n    image: bb\n    depends_on: [a]\n",
    )
    .unwrap();
    compose(&c, &d, &["up", "-d"])
        .fails_with("compose.yaml:4: dependency cycle between services: a -> b -> a");
    std::fs::write(d.join("compose.yaml"), "services:\n  a:\n    image: bb\n").unwrap();
    compose(&c, &d, &["up", "-d", "nope"]).fails_with("no such service: nope");
    std::fs::remove_file(d.join("compose.yaml")).unwrap();
    compose(&c, &d, &["config"]).fails_with("no compose file found");
}

#[test]
fn run_exec_restart_and_unsupported_parts() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "ops",
        &[(
            "compose.yaml",
            "services:\n  db:\n    image: bb\n    command: sh -c 'sleep 1; touch /tmp/ok; exec sleep 600'\n    stop_grace_period: 1s\n    healthcheck: {test: [CMD, test, -f, /tmp/ok], interval: 200ms, retries: 50}\n  app:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n    working_dir: /tmp\n    user: nobody\n    depends_on:\n      db: {condition: service_healthy}\n",
        )],
    );
    // run starts the dependencies first and waits for them.
    let r = compose(
        &c,
        &d,
        &["run", "--rm", "app", "sh", "-c", "id -un; pwd; exit 7"],
    );
    assert_eq!(r.code(), 7, "{}", r.stderr());
    assert_eq!(r.stdout(), "nobody\n/tmp\n");
    assert!(
        r.stderr().contains("app: waiting for db to be healthy"),
        "{}",
        r.stderr()
    );
    let list = ps_json(&c, &d, &[]);
    assert_eq!(list.len(), 1, "the one-off container is gone: {list:?}");
    compose(&c, &d, &["up", "-d"]).ok();
    // restart stops dependants first and starts again in order, waiting for health.
    let r = compose(&c, &d, &["restart"]).ok();
    let err = r.stderr();
    let app_stop = err.find("Container ops-app-1  Stopped").unwrap();
    let db_stop = err.find("Container ops-db-1  Stopped").unwrap();
    assert!(app_stop < db_stop, "{err}");
    assert!(err.contains("app: waiting for db to be healthy"), "{err}");
    compose(&c, &d, &["stop"]).ok();
    assert!(ps_json(&c, &d, &[]).iter().all(|x| x["State"] == "exited"));
    compose(&c, &d, &["start"]).ok();
    assert!(ps_json(&c, &d, &[]).iter().all(|x| x["State"] == "running"));
    // kill and rm act on the named services only.
    compose(&c, &d, &["kill", "app"]).ok();
    // kill sends the signal; the monitor records the exit a moment later.
    let mut list = ps_json(&c, &d, &[]);
    for _ in 0..50 {
        if by_name(&list, "ops-app-1")["State"] == "exited" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        list = ps_json(&c, &d, &[]);
    }
    assert_eq!(by_name(&list, "ops-app-1")["State"], "exited");
    assert_eq!(by_name(&list, "ops-db-1")["State"], "running");
    let r = compose(&c, &d, &["rm"]).ok();
    assert!(r.stderr().contains("ops-db-1 is running"), "{}", r.stderr());
    let names: Vec<String> = ps_json(&c, &d, &[])
        .iter()
        .map(|x| x["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["ops-db-1"]);
    compose(&c, &d, &["rm", "-s", "-f", "db"]).ok();
    assert!(ps_json(&c, &d, &[]).is_empty());
    compose(&c, &d, &["down"]).ok();

    // A build section builds with berth's build engine; a broken Dockerfile says where.
    std::fs::create_dir_all(d.join("web")).unwrap();
    std::fs::write(d.join("web/Dockerfile"), "FROM bb\nRUNN echo\n").unwrap();
    std::fs::write(
        d.join("compose.yaml"),
        "services:\n  web:\n    build: ./web\n",
    )
    .unwrap();
    compose(&c, &d, &["up", "-d"]).fails_with("Dockerfile:2: unknown instruction");
    compose(&c, &d, &["build"]).fails_with("Dockerfile:2: unknown instruction");
    assert!(ps_json(&c, &d, &[]).is_empty());
    // Fixed, up --build builds and runs it.
    std::fs::write(
        d.join("web/Dockerfile"),
        "FROM bb\nCMD [\"sleep\", \"600\"]\n",
    )
    .unwrap();
    let r = compose(&c, &d, &["up", "-d", "--build"]).ok();
    assert!(r.stderr().contains("Service web  Built"), "{}", r.stderr());
    assert_eq!(ps_json(&c, &d, &[]).len(), 1);
    compose(&c, &d, &["build"]).ok();
    compose(&c, &d, &["down"]).ok();
}

/// ulimits, extra_hosts, dns (+ search, options), sysctls, shm_size and security_opt reach
/// the container
/// (as `run` flags would); a non-namespaced sysctl is an error at its line.
#[test]
fn container_options_from_the_compose_file() {
    let c = Ctx::new();
    c.busybox("bb");
    let dir = project(
        &c,
        "opts",
        &[(
            "compose.yaml",
            r#"
services:
  app:
    image: bb
    command: sh -c 'ulimit -n; ulimit -Hn; grep -w db /etc/hosts; cat /proc/sys/net/core/somaxconn; df -k /dev/shm | tail -1; grep NoNewPrivs /proc/self/status; grep nameserver /etc/resolv.conf; grep -E "^(search|options)" /etc/resolv.conf'
    ulimits:
      nofile: {soft: 512, hard: 1024}
    extra_hosts:
      - "db=10.1.2.3"
    dns: 10.9.9.9
    dns_search: [corp.example, example.org]
    dns_opt: [ndots:2]
    sysctls:
      - net.core.somaxconn=777
    shm_size: 32m
    security_opt: [no-new-privileges:true]
    logging:
      driver: json-file
      options: {max-size: 1m, max-file: "2"}
"#,
        )],
    );
    let out = compose(&c, &dir, &["run", "--rm", "app"]).ok().stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "512", "{out}");
    assert_eq!(lines[1], "1024", "{out}");
    assert!(
        lines[2].starts_with("10.1.2.3") && lines[2].ends_with("db"),
        "{out}"
    );
    assert_eq!(lines[3], "777", "{out}");
    assert_eq!(lines[4].split_whitespace().nth(1), Some("32768"), "{out}");
    assert!(lines[5].ends_with('1'), "{out}");
    // dns: the network's resolver stays (service names resolve) and forwards to 10.9.9.9.
    assert!(
        lines[6].starts_with("nameserver ") && !lines[6].contains("10.9.9.9"),
        "{out}"
    );
    assert_eq!(
        lines[7..],
        ["search corp.example example.org", "options ndots:2"],
        "{out}"
    );
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    image: bb\n    sysctls:\n      vm.swappiness: 1\n",
    )
    .unwrap();
    let r = compose(&c, &dir, &["config"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("compose.yaml:5") && r.stderr().contains("not allowed"),
        "{}",
        r.stderr()
    );
}

#[test]
fn attached_up_streams_logs_until_the_services_exit() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "fg",
        &[("compose.yaml", "services:\n  a:\n    image: bb\n    command: sh -c 'echo from a'\n  b:\n    image: bb\n    command: sh -c 'sleep 0.3; echo from b'\n")],
    );
    let out = compose(&c, &d, &["up"]).ok().stdout();
    assert!(out.contains("fg-a-1  | from a"), "{out}");
    assert!(out.contains("fg-b-1  | from b"), "{out}");
    compose(&c, &d, &["down"]).ok();
}

#[test]
fn recreated_dependency_restarts_dependants_with_restart_true_and_up_wait() {
    let c = Ctx::new();
    c.busybox("bb");
    let file = |v: &str| {
        format!(
            "services:\n  db:\n    image: bb\n    command: sh -c 'sleep 1; touch /tmp/ok; exec sleep 600'\n    stop_grace_period: 1s\n    environment: {{V: '{v}'}}\n    healthcheck: {{test: [CMD, test, -f, /tmp/ok], interval: 200ms, retries: 50}}\n  app:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n    depends_on:\n      db: {{condition: service_healthy, restart: true}}\n  other:\n    image: bb\n    command: sleep 600\n    stop_grace_period: 1s\n    depends_on: [db]\n"
        )
    };
    let d = project(&c, "rt", &[("compose.yaml", &file("1"))]);
    // --wait returns once every service runs and db is healthy.
    compose(&c, &d, &["up", "--wait"]).ok();
    let list = ps_json(&c, &d, &[]);
    assert_eq!(by_name(&list, "rt-db-1")["Health"], "healthy");
    let app_started = |list: &[serde_json::Value]| by_name(list, "rt-app-1")["ID"].clone();
    let before = list.clone();
    std::fs::write(d.join("compose.yaml"), file("2")).unwrap();
    let r = compose(&c, &d, &["up", "-d"]).ok();
    let err = r.stderr();
    assert!(err.contains("Container rt-db-1  Recreated"), "{err}");
    // app asked to be restarted with db; other (plain depends_on) keeps running.
    assert!(err.contains("Container rt-app-1  Restarted"), "{err}");
    assert!(err.contains("Container rt-other-1  Running"), "{err}");
    let after = ps_json(&c, &d, &[]);
    assert_eq!(
        app_started(&before),
        app_started(&after),
        "restarted, not recreated"
    );
    compose(&c, &d, &["down"]).ok();
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn push_and_pull_service_images_through_a_registry() {
    // A berth registry on a free loopback port, in a store of its own.
    let reg = Ctx::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = KillOnDrop(
        reg.cmd(&["registry", "serve", "--addr", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed().as_secs() < 20, "the registry did not listen");
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    let image = format!("127.0.0.1:{port}/team/app:1");
    let file = format!(
        "services:\n  app:\n    image: {image}\n    command: echo pulled and ran\n  built:\n    build: .\n"
    );

    let a = Ctx::new();
    a.busybox("bb");
    a.berth(&["tag", "bb", &image]).ok();
    let da = project(&a, "p", &[("compose.yaml", &file)]);
    let r = compose(&a, &da, &["push", "--tls-verify=false"]).ok();
    assert!(r.stderr().contains("app: pushing"), "{}", r.stderr());
    assert!(r.stderr().contains("built: skipped"), "{}", r.stderr());

    // Another berth pulls the service's image and runs it.
    let b = Ctx::new();
    let db = project(&b, "p", &[("compose.yaml", &file)]);
    compose(&b, &db, &["up", "--pull", "never", "app"])
        .fails_with("pull it first (berth compose pull)");
    compose(&b, &db, &["pull", "--tls-verify=false", "app"]).ok();
    let out = compose(&b, &db, &["run", "--rm", "app"]).ok().stdout();
    assert_eq!(out, "pulled and ran\n");
    // run and up pull what is missing themselves.
    let c2 = Ctx::new();
    let dc = project(&c2, "p", &[("compose.yaml", &file)]);
    let r = compose(&c2, &dc, &["run", "--rm", "--tls-verify=false", "app"]).ok();
    assert_eq!(r.stdout(), "pulled and ran\n");
    assert!(r.stderr().contains("app: pulling"), "{}", r.stderr());
}

#[test]
fn ctrl_c_stops_an_attached_up() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "intr",
        &[("compose.yaml", "services:\n  svc:\n    image: bb\n    command: sh -c 'echo ready; exec sleep 600'\n    stop_grace_period: 1s\n")],
    );
    let mut cmd = c.cmd(&["compose", "up"]);
    cmd.current_dir(&d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "intr-svc-1  | ready\n");
    // SIGINT, as a terminal's Ctrl-C sends it.
    sh(&format!("kill -INT {}", child.id()));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let list = ps_json(&c, &d, &[]);
    assert_eq!(by_name(&list, "intr-svc-1")["State"], "exited", "{list:?}");
    compose(&c, &d, &["down"]).ok();
}

#[test]
fn services_find_each_other_by_name_and_publish_ports_and_build() {
    let c = Ctx::new();
    c.busybox("bb");
    let port = 20000 + (std::process::id() % 20000) as u16;
    let d = project(
        &c,
        "netapp",
        &[
            (
                "compose.yaml",
                &format!(
                    "services:\n  web:\n    build: ./web\n    ports: ['127.0.0.1:{port}:80']\n    networks: {{default: {{aliases: [www]}}}}\n    healthcheck:\n      test: wget -q -O /dev/null http://127.0.0.1/\n      interval: 1s\n  client:\n    image: bb\n    command: [sh, -c, 'wget -q -O - http://web/ && wget -q -O - http://www/ && sleep 600']\n    stop_grace_period: 1s\n    depends_on: {{web: {{condition: service_healthy}}}}\n"
                ),
            ),
        ],
    );
    std::fs::create_dir_all(d.join("web")).unwrap();
    std::fs::write(
        d.join("web/Dockerfile"),
        "FROM bb\nRUN mkdir -p /www && echo hello-from-web > /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
    )
    .unwrap();
    compose(&c, &d, &["up", "-d", "--wait"]).ok();
    // From the host, through the published port.
    let body = sh(&format!("wget -q -O - http://127.0.0.1:{port}/"));
    assert_eq!(body, "hello-from-web\n");
    // The client reached web by service name and by alias.
    let mut logs = String::new();
    for _ in 0..50 {
        logs = compose(&c, &d, &["logs", "client"]).ok().stdout();
        if logs.matches("hello-from-web").count() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(logs.matches("hello-from-web").count(), 2, "{logs}");
    let nets = c.berth(&["network", "ls"]).ok().stdout();
    assert!(nets.contains("netapp_default"), "{nets}");
    compose(&c, &d, &["down"]).ok();
    let nets = c.berth(&["network", "ls"]).ok().stdout();
    assert!(
        !nets.contains("netapp_default"),
        "down removes the network: {nets}"
    );
}

// Each service takes 1 s to stop after SIGTERM. top depends on left and right, which
// are independent of each other.
const SLOW_STOP_APP: &str = r#"
x-slow: &slow
  image: bb
  # `wait` returns at once when a trapped signal comes (a foreground sleep would not).
  command: ["sh", "-c", "trap 'sleep 1; exit 0' TERM; while :; do sleep 0.1 & wait; done"]
  stop_grace_period: 5s
services:
  left: *slow
  right: *slow
  top:
    <<: *slow
    depends_on: [left, right]
"#;

#[test]
fn down_stops_by_dependency_level_and_each_level_concurrently() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(&c, "app", &[("compose.yaml", SLOW_STOP_APP)]);
    compose(&c, &d, &["up", "-d"]).ok();
    // Let the shells set their traps.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let t = std::time::Instant::now();
    let r = compose(&c, &d, &["down"]).ok();
    let took = t.elapsed();
    let err = r.stderr();
    // top first (1 s), then left and right together (1 s): ~2 s, not ~3 s one by one.
    assert!(
        took.as_secs_f64() >= 1.9 && took.as_secs_f64() < 2.8,
        "down took {took:?}: {err}"
    );
    let at = |s: &str| err.find(s).unwrap_or_else(|| panic!("no {s:?} in {err}"));
    assert!(at("Container app-top-1  Stopped") < at("Container app-left-1  Stopped"));
    assert!(at("Container app-top-1  Stopped") < at("Container app-right-1  Stopped"));
    assert!(ps_json(&c, &d, &[]).is_empty());
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
}

/// A free TCP port on the host (released before use; a race is unlikely in a test).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn run_takes_the_flags_ci_scripts_give_docker_compose_run() {
    let c = Ctx::new();
    c.busybox("bb");
    let (svc_port, extra_port) = (free_port(), free_port());
    let d = project(
        &c,
        "flags",
        &[(
            "compose.yaml",
            &format!(
                "services:\n  web:\n    image: bb\n    entrypoint: [sh, -c]\n    command: [\"httpd -f -p 8080 -h /srv\"]\n    tty: true\n    stop_grace_period: 1s\n    ports: [\"127.0.0.1:{svc_port}:8080\"]\n    volumes: [data:/srv]\nvolumes:\n  data: {{}}\n"
            ),
        )],
    );
    let host_dir = c.root().join("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("note"), "from the host\n").unwrap();
    // -T, --entrypoint "" (the command runs as it is), --name, -l, -v with the project's
    // volume key and a read-only bind.
    let out = compose(
        &c,
        &d,
        &[
            "run", "--rm", "-T", "--entrypoint", "", "--name", "once", "-l", "job=42", "-v",
            "data:/d", "-v", &format!("{}:/shared:ro", host_dir.display()), "web", "sh", "-c",
            "echo served > /d/index.html; cat /shared/note; touch /shared/x 2>/dev/null || echo read-only; test -t 1 || echo no-tty",
        ],
    )
    .ok()
    .stdout();
    assert_eq!(out, "from the host\nread-only\nno-tty\n");
    // --service-ports publishes the service's ports (run does not by default); the page
    // written through -v data:/d is the service's volume.
    compose(
        &c,
        &d,
        &["run", "-d", "--name", "svc", "--service-ports", "web"],
    )
    .ok();
    let page = crate::net::http_get(std::net::Ipv4Addr::LOCALHOST, svc_port, "/index.html")
        .expect("--service-ports publishes");
    assert!(page.ends_with("served\n"), "{page}");
    let labels = c.berth(&["inspect", "svc"]).ok().stdout();
    assert!(labels.contains("com.docker.compose.oneoff"), "{labels}");
    // -p publishes a port of the one-off's own.
    compose(
        &c,
        &d,
        &[
            "run",
            "-d",
            "--name",
            "pub",
            "-p",
            &format!("127.0.0.1:{extra_port}:8080"),
            "web",
        ],
    )
    .ok();
    let page = crate::net::http_get(std::net::Ipv4Addr::LOCALHOST, extra_port, "/index.html")
        .expect("-p publishes");
    assert!(page.ends_with("served\n"), "{page}");
    // A bad flag value is a clear error before anything runs.
    compose(&c, &d, &["run", "--rm", "-p", "nope", "web"]).fails_with("--publish \"nope\"");
    compose(&c, &d, &["down", "-v"]).ok();
    assert!(c.berth(&["ps", "-aq"]).ok().stdout().trim().is_empty());
}

#[test]
fn up_aborts_on_container_exit_with_the_code_of_the_test_service() {
    // The CI pattern: `up --exit-code-from tests` runs the app beside its tests, stops
    // everything when the tests end and exits with their code.
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "ci",
        &[(
            "compose.yaml",
            "services:\n  app:\n    image: bb\n    command: [sh, -c, \"trap 'exit 0' TERM; while :; do sleep 0.1 & wait; done\"]\n  tests:\n    image: bb\n    command: [sh, -c, \"echo running tests; sleep 0.5; echo 2 failed; exit 3\"]\n    depends_on: [app]\n",
        )],
    );
    let r = compose(&c, &d, &["up", "--exit-code-from", "tests"]);
    assert_eq!(r.code(), 3, "{}", r.stderr());
    assert!(
        r.stdout().contains("ci-tests-1  | 2 failed"),
        "{}",
        r.stdout()
    );
    assert!(
        r.stderr().contains("Aborting on container exit"),
        "{}",
        r.stderr()
    );
    let list = ps_json(&c, &d, &[]);
    assert!(list.iter().all(|x| x["State"] == "exited"), "{list:?}");
    assert_eq!(by_name(&list, "ci-app-1")["ExitCode"], 0);
    // Without --exit-code-from: the code of the container that ended first. The
    // containers are started again, and only this run's output is shown.
    let r = compose(&c, &d, &["up", "--abort-on-container-exit"]);
    assert_eq!(r.code(), 3);
    assert_eq!(r.stdout().matches("2 failed").count(), 1, "{}", r.stdout());
    // What CI scripts ask afterwards: which services ended, and their logs for the record.
    let r = compose(&c, &d, &["ps", "--services", "--status", "exited"]).ok();
    assert_eq!(r.stdout(), "app\ntests\n");
    assert!(compose(&c, &d, &["ps", "--status", "running", "-q"])
        .ok()
        .stdout()
        .is_empty());
    compose(&c, &d, &["ps", "--status", "gone"]).fails_with("--status \"gone\"");
    let r = compose(&c, &d, &["logs", "--no-color", "--since", "1h", "tests"]).ok();
    assert_eq!(r.stdout().matches("2 failed").count(), 2, "{}", r.stdout());
    compose(&c, &d, &["up", "-d", "--abort-on-container-exit"]).fails_with("cannot be used with");
    compose(&c, &d, &["up", "--exit-code-from", "nope"]).fails_with("--exit-code-from nope");
    compose(&c, &d, &["down"]).ok();
}

#[test]
fn build_takes_no_cache_and_build_args_over_the_files() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "bld",
        &[
            (
                "compose.yaml",
                "services:\n  app:\n    build:\n      context: app\n      args: {GREETING: from-file}\n",
            ),
            (
                "app/Dockerfile",
                "FROM bb\nARG GREETING=hello\nRUN echo \"$GREETING\" > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
            ),
        ],
    );
    compose(&c, &d, &["build"]).ok();
    assert_eq!(
        compose(&c, &d, &["run", "--rm", "app"]).ok().stdout(),
        "from-file\n"
    );
    let r = compose(&c, &d, &["build", "--build-arg", "GREETING=from-cli"]).ok();
    assert!(r.stderr().contains("1 cached"), "{}", r.stderr());
    assert_eq!(
        compose(&c, &d, &["run", "--rm", "app"]).ok().stdout(),
        "from-cli\n"
    );
    let r = compose(
        &c,
        &d,
        &["build", "--no-cache", "--build-arg", "GREETING=from-cli"],
    )
    .ok();
    assert!(r.stderr().contains("0 cached"), "{}", r.stderr());
    compose(&c, &d, &["down"]).ok();
}

#[test]
fn down_timeout_bounds_the_wait_for_a_container_that_ignores_sigterm() {
    // `sleep` as PID 1 ignores SIGTERM (no handler; the kernel drops it): the stop waits
    // its timeout, 10 s by default, then SIGKILL. `down -t 1` waits one second.
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "tmo",
        &[(
            "compose.yaml",
            "services:\n  idle:\n    image: bb\n    command: [sleep, \"600\"]\n",
        )],
    );
    compose(&c, &d, &["up", "-d"]).ok();
    let t = std::time::Instant::now();
    compose(&c, &d, &["down", "-t", "1"]).ok();
    let took = t.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(900) && took < std::time::Duration::from_secs(5),
        "{took:?}"
    );
    assert!(ps_json(&c, &d, &[]).is_empty());
}

#[test]
fn up_wait_timeout_gives_up_and_says_on_what() {
    let c = Ctx::new();
    c.busybox("bb");
    let d = project(
        &c,
        "wt",
        &[(
            "compose.yaml",
            "services:\n  slow:\n    image: bb\n    command: [sleep, \"60\"]\n    stop_grace_period: 1s\n    healthcheck: {test: [CMD, \"false\"], interval: 1s, retries: 100}\n",
        )],
    );
    let t = std::time::Instant::now();
    let r = compose(&c, &d, &["up", "-d", "--wait", "--wait-timeout", "2"]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(
        t.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        t.elapsed()
    );
    assert!(
        r.stderr()
            .contains("gave up after 2s: waiting for slow to be healthy"),
        "{}",
        r.stderr()
    );
    // The containers stay, as Docker Compose leaves them.
    assert_eq!(ps_json(&c, &d, &[])[0]["State"], "running");
    compose(&c, &d, &["up", "--wait-timeout", "2"]).fails_with("--wait");
    compose(&c, &d, &["down", "-t", "0"]).ok();
}
