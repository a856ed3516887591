//! The loader end to end on files in a temp directory: default files and overrides,
//! `.env`, several -f, extends, profiles, and errors with file:line.

use berth_compose::{load, Options};
use std::collections::BTreeMap;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn opts(dir: &Path) -> Options {
    Options {
        working_dir: dir.to_path_buf(),
        environ: BTreeMap::new(),
        ..Default::default()
    }
}

fn err(dir: &Path, o: &Options) -> String {
    let _ = dir;
    load(o).unwrap_err().to_string()
}

#[test]
fn default_files_override_and_dotenv() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(d, ".env", "TAG=1.2\nGREETING=hello\n");
    write(
        d,
        "compose.yaml",
        "services:\n  web:\n    image: busybox:${TAG}\n    environment:\n      - MSG=${GREETING:-none} $$HOME\n    command: sh -c 'echo hi'\n",
    );
    write(
        d,
        "compose.override.yaml",
        "services:\n  web:\n    environment:\n      EXTRA: '1'\n",
    );
    let mut o = opts(d);
    o.project_name = Some("demo".into());
    let p = load(&o).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("busybox:1.2"));
    assert_eq!(web.environment["MSG"].as_deref(), Some("hello $HOME"));
    assert_eq!(web.environment["EXTRA"].as_deref(), Some("1"));
    assert_eq!(
        web.command.as_ref().unwrap(),
        &vec!["sh".to_string(), "-c".into(), "echo hi".into()]
    );
    // The process environment wins over .env.
    o.environ.insert("TAG".into(), "2.0".into());
    assert_eq!(
        load(&o).unwrap().services["web"].image.as_deref(),
        Some("busybox:2.0")
    );
}

#[test]
fn project_name_from_directory_name_key_and_flag() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("My App");
    std::fs::create_dir(&d).unwrap();
    write(&d, "compose.yml", "services:\n  a:\n    image: x\n");
    assert_eq!(load(&opts(&d)).unwrap().name, "myapp");
    write(
        &d,
        "compose.yml",
        "name: named\nservices:\n  a:\n    image: x\n",
    );
    assert_eq!(load(&opts(&d)).unwrap().name, "named");
    let mut o = opts(&d);
    o.project_name = Some("flag".into());
    assert_eq!(load(&o).unwrap().name, "flag");
    o.project_name = Some("Bad Name".into());
    assert!(load(&o)
        .unwrap_err()
        .to_string()
        .contains("invalid project name"));
}

#[test]
fn several_files_merge_in_order() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(
        d,
        "a.yaml",
        "services:\n  web:\n    image: a\n    ports: ['8080:80']\n    labels: [x=1]\n",
    );
    write(
        d,
        "b.yaml",
        "services:\n  web:\n    image: b\n    labels:\n      y: '2'\n  db:\n    image: pg\n",
    );
    let mut o = opts(d);
    o.files = vec!["a.yaml".into(), "b.yaml".into()];
    o.project_name = Some("m".into());
    let p = load(&o).unwrap();
    assert_eq!(p.services["web"].image.as_deref(), Some("b"));
    assert_eq!(p.services["web"].ports.len(), 1);
    assert_eq!(p.services["web"].labels.len(), 2);
    assert!(p.services.contains_key("db"));
    // Several documents in one file merge in order too; errors keep their lines.
    write(
        d,
        "multi.yaml",
        "services:\n  web:\n    image: a\n---\nservices:\n  web:\n    image: b\n    bogus: 1\n",
    );
    o.files = vec!["multi.yaml".into()];
    let e = load(&o).unwrap_err().to_string();
    assert!(e.starts_with("multi.yaml:8: unknown key \"bogus\""), "{e}");
    write(
        d,
        "multi.yaml",
        "services:\n  web:\n    image: a\n---\nservices:\n  web:\n    image: b\n",
    );
    assert_eq!(
        load(&o).unwrap().services["web"].image.as_deref(),
        Some("b")
    );
}

#[test]
fn extends_in_file_and_from_another_file() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(
        d,
        "common.yaml",
        "services:\n  base:\n    image: common\n    environment: {A: '1'}\n    user: nobody\n",
    );
    write(
        d,
        "compose.yaml",
        "services:\n  local:\n    image: local\n    working_dir: /w\n  one:\n    extends: local\n    environment: {B: '2'}\n  two:\n    extends:\n      file: common.yaml\n      service: base\n    environment: {B: '3'}\n",
    );
    let mut o = opts(d);
    o.project_name = Some("e".into());
    let p = load(&o).unwrap();
    assert_eq!(p.services["one"].image.as_deref(), Some("local"));
    assert_eq!(p.services["one"].working_dir.as_deref(), Some("/w"));
    let two = &p.services["two"];
    assert_eq!(two.image.as_deref(), Some("common"));
    assert_eq!(two.user.as_deref(), Some("nobody"));
    assert_eq!(two.environment["A"].as_deref(), Some("1"));
    assert_eq!(two.environment["B"].as_deref(), Some("3"));
    write(
        d,
        "compose.yaml",
        "services:\n  a:\n    extends: b\n  b:\n    extends: a\n",
    );
    let e = err(d, &o);
    assert!(e.contains("circular reference"), "{e}");
}

#[test]
fn extends_from_another_directory_keeps_its_relative_paths() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::create_dir(d.join("common")).unwrap();
    write(&d.join("common"), "base.yaml", "services:\n  base:\n    build: ./ctx\n    env_file: base.env\n    volumes: ['./data:/data', {type: bind, source: ./conf, target: /conf}]\n");
    write(&d.join("common"), "base.env", "FROM_BASE=1\n");
    std::fs::create_dir(d.join("app")).unwrap();
    write(&d.join("app"), "compose.yaml", "services:\n  web:\n    extends: {file: ../common/base.yaml, service: base}\n    image: web\n");
    let mut o = opts(&d.join("app"));
    o.project_name = Some("x".into());
    let p = load(&o).unwrap();
    let web = &p.services["web"];
    let common = std::fs::canonicalize(d.join("common")).unwrap();
    assert_eq!(
        web.build.as_ref().unwrap().context,
        common.join("ctx").display().to_string()
    );
    assert_eq!(web.environment["FROM_BASE"].as_deref(), Some("1"));
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(common.join("data").to_str().unwrap())
    );
    assert_eq!(
        web.volumes[1].source.as_deref(),
        Some(common.join("conf").to_str().unwrap())
    );
}

#[test]
fn files_from_parent_directories_and_compose_file() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(d, "docker-compose.yml", "services:\n  up:\n    image: x\n");
    write(
        d,
        "docker-compose.override.yml",
        "services:\n  up:\n    user: nobody\n",
    );
    write(d, "other.yaml", "services:\n  other:\n    image: y\n");
    std::fs::create_dir_all(d.join("sub/deeper")).unwrap();
    let mut o = opts(&d.join("sub/deeper"));
    o.project_name = Some("x".into());
    let p = load(&o).unwrap();
    assert_eq!(p.services["up"].user.as_deref(), Some("nobody"));
    assert_eq!(p.files.len(), 2);
    o.environ
        .insert("COMPOSE_FILE".into(), "../../other.yaml".into());
    assert!(load(&o).unwrap().services.contains_key("other"));
}

#[test]
fn profiles_enable_and_disable_services() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(d, "compose.yaml", "services:\n  app:\n    image: a\n  debug:\n    image: d\n    profiles: [debug]\n  tools:\n    image: t\n    profiles: [tools, debug]\n");
    let mut o = opts(d);
    o.project_name = Some("p".into());
    let p = load(&o).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), vec!["app"]);
    o.profiles = vec!["debug".into()];
    assert_eq!(load(&o).unwrap().services.len(), 3);
    o.profiles = vec![];
    o.environ.insert("COMPOSE_PROFILES".into(), "tools".into());
    assert_eq!(
        load(&o).unwrap().services.keys().collect::<Vec<_>>(),
        vec!["app", "tools"]
    );
    o.environ.clear();
    o.services = vec!["debug".into()];
    assert!(load(&o).unwrap().services.contains_key("debug"));
    // A service that needs a disabled one says which profile to activate.
    write(d, "compose.yaml", "services:\n  app:\n    image: a\n    depends_on: [db]\n  db:\n    image: d\n    profiles: [db]\n");
    o.services = vec![];
    let e = err(d, &o);
    assert!(
        e.contains("compose.yaml:4:") && e.contains("--profile") && e.contains("db"),
        "{e}"
    );
}

#[test]
fn errors_name_file_line_and_key() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let mut o = opts(d);
    o.project_name = Some("x".into());
    let cases: &[(&str, &str)] = &[
        ("services:\n  web:\n    image: x\n    imgae: y\n", "compose.yaml:4: unknown key \"imgae\" in services.web (did you mean \"image\"?)"),
        ("servics:\n  web:\n    image: x\n", "compose.yaml:1: unknown key \"servics\" at the top level"),
        ("services:\n  web:\n    image: x\n    ports: 80\n", "compose.yaml:4: services.web.ports must be a list, not a number"),
        ("services:\n  web:\n    image: x\n    init: maybe\n", "compose.yaml:4: services.web.init must be true or false"),
        ("services:\n  web:\n    image: ${IMG:?set IMG to the image}\n", "compose.yaml:3: services.web.image: required variable IMG is missing a value: set IMG to the image"),
        ("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on:\n      c: {condition: service_healthy}\n  c:\n    image: x\n    depends_on: [a]\n", "dependency cycle between services: a -> b -> c -> a"),
        ("services:\n  a:\n    image: x\n    depends_on: [nope]\n", "compose.yaml:4: service \"a\" depends on undefined service \"nope\""),
        ("services:\n  a:\n    image: x\n    volumes: ['data:/d']\n", "compose.yaml:4: service \"a\" refers to undefined volume \"data\""),
        ("services:\n  a:\n    command: x\n", "compose.yaml:3: service \"a\" has neither an image nor a build section"),
        ("services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: service_ready}\n  b:\n    image: y\n", "compose.yaml:5: services.a.depends_on.b.condition: unknown condition"),
        ("services:\n  a:\n    image: x\n    healthcheck:\n      test: [CMD, x]\n      interval: 5 seconds\n", "compose.yaml:6: services.a.healthcheck.interval: invalid duration"),
        ("services:\n  a:\n    image: x\n    restart: sometimes\n", "compose.yaml:4: services.a.restart: invalid restart policy"),
        ("services:\n  a:\n    image: x\n  a:\n    image: y\n", "compose.yaml:4: mapping key \"a\" already defined at line 2"),
        ("services:\n  a:\n    image: x\n    container_name: one\n  b:\n    image: x\n    container_name: one\n", "compose.yaml:7: services \"a\" and \"b\" both use container_name \"one\""),
        ("services:\n  a:\n    image: x\n    volumes:\n      - type: bind\n        target: /x\n", "compose.yaml:5: services.a.volumes[0]: a bind mount needs a source"),
        ("services:\n  a:\n    image: x\n    ports: ['70000:80']\n", "compose.yaml:4: services.a.ports[0]: invalid port"),
        ("services:\n  a:\n    image: x\n    environment: [1, 2]\n", "compose.yaml:4: services.a.environment[0] must be a string KEY=VALUE, not a number"),
        ("services: []\n", "compose.yaml:1: services must be a mapping, not a list"),
        ("- a\n- b\n", "compose.yaml:1: a compose file must be a mapping, not a list"),
        ("services:\n  a:\n    image: x\n    extends: nope\n", "compose.yaml:4: services.a.extends: no service \"nope\""),
        ("services:\n  a:\n    <<: *missing\n", "compose.yaml:3"),
        ("include:\n  - other.yaml\n", "compose.yaml:2: include: "),
    ];
    for (text, want) in cases {
        write(d, "compose.yaml", text);
        let e = err(d, &o);
        assert!(e.contains(want), "for\n{text}\nwant {want:?}\ngot  {e:?}");
    }
    // The cycle error points at a depends_on line.
    write(d, "compose.yaml", cases[5].0);
    assert!(err(d, &o).starts_with("compose.yaml:4:"), "{}", err(d, &o));
    // An error in the second file names that file.
    write(d, "compose.yaml", "services:\n  a:\n    image: x\n");
    write(d, "more.yaml", "services:\n  a:\n    bogus: 1\n");
    o.files = vec!["compose.yaml".into(), "more.yaml".into()];
    assert!(err(d, &o).starts_with("more.yaml:3:"), "{}", err(d, &o));
}

#[test]
fn long_syntax_and_config_output() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(
        d,
        "db.env",
        "POSTGRES_USER=app\n# comment\nPOSTGRES_DB=app\n",
    );
    write(d, "secret.txt", "s3cret");
    write(
        d,
        "compose.yaml",
        r#"
x-common: &common
  restart: unless-stopped
  labels:
    team: core
services:
  db:
    <<: *common
    image: postgres:16
    env_file: db.env
    environment:
      POSTGRES_DB: override
    volumes:
      - type: volume
        source: pgdata
        target: /var/lib/postgresql/data
      - ./init:/docker-entrypoint-initdb.d:ro
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 64m}
    healthcheck:
      test: pg_isready
      interval: 1s
      retries: 30
    secrets: [dbpass]
    deploy:
      resources:
        limits: {cpus: '0.5', memory: 256M}
  web:
    <<: *common
    command: sh -c 'echo $$HOME ${GREETING:-hi}'
    build:
      context: ./web
      dockerfile: Dockerfile.dev
      args: [VERSION=1]
      target: dev
    depends_on:
      db:
        condition: service_healthy
        restart: true
    ports: ["8080:80"]
    networks:
      front:
        aliases: [www]
    deploy: {replicas: 2}
volumes:
  pgdata: {}
networks:
  front: {}
secrets:
  dbpass:
    file: ./secret.txt
"#,
    );
    let mut o = opts(d);
    o.project_name = Some("shop".into());
    let p = load(&o).unwrap();
    let db = &p.services["db"];
    assert_eq!(db.restart.as_deref(), Some("unless-stopped"));
    assert_eq!(db.environment["POSTGRES_USER"].as_deref(), Some("app"));
    assert_eq!(db.environment["POSTGRES_DB"].as_deref(), Some("override"));
    assert_eq!(db.volumes[1].kind, "bind");
    assert!(db.volumes[1].source.as_ref().unwrap().ends_with("/init"));
    assert_eq!(db.volumes[2].tmpfs_size, Some(64 << 20));
    assert_eq!(
        db.healthcheck.as_ref().unwrap().test,
        vec!["CMD-SHELL", "pg_isready"]
    );
    let lim = db
        .deploy
        .as_ref()
        .unwrap()
        .resources
        .as_ref()
        .unwrap()
        .limits
        .as_ref()
        .unwrap();
    assert_eq!((lim.cpus, lim.memory), (Some(0.5), Some(256 << 20)));
    let web = &p.services["web"];
    assert_eq!(web.replicas(), 2);
    assert_eq!(web.command.as_ref().unwrap()[2], "echo $HOME hi");
    assert!(web.depends_on["db"].restart);
    assert_eq!(web.build.as_ref().unwrap().target.as_deref(), Some("dev"));
    assert_eq!(web.networks["front"].aliases, vec!["www"]);
    assert_eq!(
        berth_compose::graph::start_order(&p, &["web".into()]),
        vec!["db", "web"]
    );

    // `config` output is YAML that reads back into the same model.
    let out = berth_compose::to_yaml(&p);
    assert!(out.contains("condition: service_healthy"), "{out}");
    assert!(out.contains("interval: 1s"), "{out}");
    write(d, "resolved.yaml", &out);
    let mut o2 = opts(d);
    o2.files = vec!["resolved.yaml".into()];
    let p2 = load(&o2).unwrap();
    assert_eq!(p2.name, "shop");
    assert_eq!(p2.services, p.services);
    assert_eq!(
        berth_compose::config_hash(&p2.services["db"]),
        berth_compose::config_hash(&p.services["db"])
    );
}

#[test]
fn legacy_scale_and_warnings_for_unsupported_keys() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(
        d,
        "compose.yaml",
        "version: '3.8'\nservices:\n  a:\n    image: x\n    scale: 3\n    cpu_shares: 512\n    logging: {driver: syslog}\n  b:\n    image: x\n    scale: 3\n    deploy: {replicas: 1}\n",
    );
    let mut o = opts(d);
    o.project_name = Some("s".into());
    let p = load(&o).unwrap();
    assert_eq!(p.services["a"].replicas(), 3);
    assert_eq!(p.services["b"].replicas(), 1);
    let w = p.warnings.join("\n");
    assert!(
        w.contains("compose.yaml:1: the top-level version key is obsolete"),
        "{w}"
    );
    assert!(
        w.contains("compose.yaml:6: services.a.cpu_shares: berth does not support this key yet"),
        "{w}"
    );
    assert!(
        w.contains(
            "services.a.logging.driver: berth keeps json-file logs; driver \"syslog\" is ignored"
        ),
        "{w}"
    );
}

#[test]
fn include_brings_in_another_project_with_its_own_env_and_paths() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::create_dir(d.join("db")).unwrap();
    write(&d.join("db"), ".env", "PG_TAG=16\n");
    write(&d.join("db"), "pw.txt", "secret");
    write(
        &d.join("db"),
        "compose.yaml",
        "services:\n  db:\n    image: postgres:${PG_TAG}\n    volumes: ['./init:/init', 'pgdata:/var/lib/postgresql/data']\n    secrets: [pw]\nvolumes:\n  pgdata: {}\nsecrets:\n  pw: {file: ./pw.txt}\n",
    );
    write(
        d,
        "compose.yaml",
        "include:\n  - db/compose.yaml\nservices:\n  web:\n    image: web\n    depends_on: [db]\n",
    );
    let mut o = opts(d);
    o.project_name = Some("inc".into());
    let p = load(&o).unwrap();
    let db = &p.services["db"];
    assert_eq!(db.image.as_deref(), Some("postgres:16"));
    let dbdir = std::fs::canonicalize(d.join("db")).unwrap();
    assert_eq!(
        db.volumes[0].source.as_deref(),
        Some(dbdir.join("init").to_str().unwrap())
    );
    assert!(p.volumes.contains_key("pgdata"));
    assert_eq!(
        p.secrets["pw"].file.as_deref(),
        Some(dbdir.join("pw.txt").to_str().unwrap())
    );
    assert_eq!(
        berth_compose::graph::start_order(&p, &[]),
        vec!["db", "web"]
    );
    // Defining an included service again is an error that names both places.
    write(
        d,
        "compose.yaml",
        "include:\n  - path: db/compose.yaml\nservices:\n  db:\n    image: mine\n",
    );
    let e = load(&o).unwrap_err().to_string();
    assert!(e.starts_with("compose.yaml:4: services.db is defined here and in the included file db/compose.yaml:2"), "{e}");
    // A file that includes itself, through another, is refused.
    write(
        d,
        "compose.yaml",
        "include: [db/compose.yaml]\nservices:\n  web:\n    image: w\n",
    );
    write(
        &d.join("db"),
        "compose.yaml",
        "include: [../compose.yaml]\nservices:\n  db:\n    image: d\n",
    );
    let e = load(&o).unwrap_err().to_string();
    assert!(e.contains("include cycle"), "{e}");
}
