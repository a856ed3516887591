//! Merging compose files and `extends` by the specification's rules: mappings merge key
//! by key (the later file wins), most sequences append (without duplicates), `command`,
//! `entrypoint` and `healthcheck.test` are replaced, service `volumes` are merged by
//! target, `secrets`/`configs` by source, and `!reset` / `!override` tags remove or replace
//! a value. List forms of mapping-like fields are normalised to mappings first, so a
//! list in one file and a mapping in another merge.

use crate::convert::short_volume;
use crate::yaml::{Key, MergeTag, Node, Value};

/// Fields of a service that may be written as `KEY=VALUE` lists or as mappings.
const DICT_FIELDS: &[&str] = &[
    "environment",
    "labels",
    "annotations",
    "sysctls",
    "extra_hosts",
];

/// `seps`: the separators to try in order (extra_hosts: `NAME=IP`, else `NAME:IP`, as
/// an IPv6 address has colons itself).
fn list_to_map(n: &mut Node, seps: &[char]) {
    if let Value::Seq(items) = &n.value {
        let mut m: Vec<(Key, Node)> = Vec::new();
        for it in items {
            let Value::Str(s) = &it.value else {
                return; // leave it for the type check to report
            };
            let s = s.clone();
            let (k, v) = match seps.iter().find_map(|c| s.split_once(*c)) {
                Some((k, v)) => (k.to_string(), Value::Str(v.to_string())),
                None => (s.clone(), Value::Null),
            };
            m.retain(|(x, _)| x.name != k);
            m.push((
                Key {
                    name: k,
                    pos: it.pos.clone(),
                },
                Node::new(v, it.pos.clone()),
            ));
        }
        n.value = Value::Map(m);
    }
}

/// Rewrites list forms of mapping-like fields of every service into mappings.
pub fn normalize(root: &mut Node) {
    let Some(services) = root.get_mut("services") else {
        return;
    };
    let Value::Map(services) = &mut services.value else {
        return;
    };
    for (_, svc) in services.iter_mut() {
        normalize_service(svc);
    }
}

pub fn normalize_service(svc: &mut Node) {
    for f in DICT_FIELDS {
        if let Some(n) = svc.get_mut(f) {
            list_to_map(
                n,
                if *f == "extra_hosts" {
                    &['=', ':']
                } else {
                    &['=']
                },
            );
        }
    }
    if let Some(b) = svc.get_mut("build") {
        if let Some(a) = b.get_mut("args") {
            list_to_map(a, &['=']);
        }
    }
    for f in ["depends_on", "networks"] {
        if let Some(n) = svc.get_mut(f) {
            if let Value::Seq(items) = &n.value {
                let mut m = Vec::new();
                for it in items {
                    let Some(name) = it.scalar_text() else { return };
                    let v = if f == "depends_on" {
                        Value::Map(vec![(
                            Key {
                                name: "condition".into(),
                                pos: it.pos.clone(),
                            },
                            Node::new(Value::Str("service_started".into()), it.pos.clone()),
                        )])
                    } else {
                        Value::Null
                    };
                    m.push((
                        Key {
                            name,
                            pos: it.pos.clone(),
                        },
                        Node::new(v, it.pos.clone()),
                    ));
                }
                n.value = Value::Map(m);
            }
        }
    }
}

/// Merges `over` onto `base` (both whole files or both services); None when `!reset`.
pub fn merge(base: Node, over: Node, path: &[&str]) -> Option<Node> {
    match over.tag {
        Some(MergeTag::Reset) => return None,
        Some(MergeTag::Override) => {
            return Some(Node { tag: None, ..over });
        }
        None => {}
    }
    let key = path.last().copied().unwrap_or_default();
    let in_service =
        path.len() == 3 && path[0] == "services" || path.len() == 1 && path[0] == "<service>";
    match (base.value, over.value) {
        (Value::Map(mut b), Value::Map(o)) => {
            for (k, v) in o {
                let mut sub: Vec<&str> = path.to_vec();
                sub.push(&k.name);
                match b.iter().position(|(x, _)| x.name == k.name) {
                    // Extension fields are replaced whole, not merged (as compose-go does).
                    Some(i) if k.name.starts_with("x-") => {
                        if v.tag == Some(MergeTag::Reset) {
                            b.remove(i);
                        } else {
                            b[i] = (k, Node { tag: None, ..v });
                        }
                    }
                    Some(i) => {
                        let (_, bv) = b.remove(i);
                        if let Some(m) = merge(bv, v, &sub) {
                            b.insert(i, (k, m));
                        }
                    }
                    None => {
                        if v.tag != Some(MergeTag::Reset) {
                            b.push((k, Node { tag: None, ..v }));
                        }
                    }
                }
            }
            Some(Node::new(Value::Map(b), base.pos))
        }
        (Value::Seq(b), Value::Seq(o)) => {
            let replace = (in_service && matches!(key, "command" | "entrypoint"))
                || (path.len() >= 2 && key == "test" && path[path.len() - 2] == "healthcheck");
            if replace {
                return Some(Node::new(Value::Seq(o), over.pos));
            }
            let ident: Option<fn(&Node) -> Option<String>> = if in_service {
                match key {
                    "volumes" => Some(volume_target),
                    "secrets" => Some(secret_target),
                    "configs" => Some(config_target),
                    _ => None,
                }
            } else {
                None
            };
            let mut out = b;
            for item in o {
                match ident {
                    Some(f) => {
                        let id = f(&item);
                        if let Some(i) = out.iter().position(|x| id.is_some() && f(x) == id) {
                            out[i] = item;
                        } else {
                            out.push(item);
                        }
                    }
                    None => {
                        if !out.iter().any(|x| x.to_json() == item.to_json()) {
                            out.push(item);
                        }
                    }
                }
            }
            Some(Node::new(Value::Seq(out), base.pos))
        }
        (_, ov) => Some(Node::new(ov, over.pos)),
    }
}

fn volume_target(n: &Node) -> Option<String> {
    match &n.value {
        Value::Map(_) => n.get("target").and_then(Node::scalar_text),
        _ => short_volume(&n.scalar_text()?).ok().map(|v| v.target),
    }
}

/// Secrets and configs are the same entry when they land on the same path.
fn mount_target(n: &Node, default_dir: &str) -> Option<String> {
    match &n.value {
        Value::Map(_) => n
            .get("target")
            .and_then(Node::scalar_text)
            .or_else(|| Some(format!("{default_dir}/{}", n.get("source")?.scalar_text()?))),
        _ => Some(format!("{default_dir}/{}", n.scalar_text()?)),
    }
}

fn secret_target(n: &Node) -> Option<String> {
    mount_target(n, "/run/secrets")
}

fn config_target(n: &Node) -> Option<String> {
    mount_target(n, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn m(a: &str, b: &str) -> serde_json::Value {
        let mut x = parse(a, "a.yaml").unwrap();
        let mut y = parse(b, "b.yaml").unwrap();
        normalize(&mut x);
        normalize(&mut y);
        merge(x, y, &[]).unwrap().to_json()
    }

    #[test]
    fn mappings_merge_and_scalars_override() {
        let j = m(
            "services:\n  web:\n    image: a\n    environment: [A=1, B=2]\n    labels: {x: '1'}\n",
            "services:\n  web:\n    image: b\n    environment:\n      B: '3'\n      C: '4'\n  db:\n    image: pg\n",
        );
        assert_eq!(j["services"]["web"]["image"], "b");
        assert_eq!(j["services"]["web"]["environment"]["A"], "1");
        assert_eq!(j["services"]["web"]["environment"]["B"], "3");
        assert_eq!(j["services"]["web"]["environment"]["C"], "4");
        assert_eq!(j["services"]["web"]["labels"]["x"], "1");
        assert_eq!(j["services"]["db"]["image"], "pg");
    }

    #[test]
    fn command_replaces_ports_append_volumes_by_target() {
        let j = m(
            "services:\n  web:\n    command: [a, b]\n    ports: ['80:80']\n    volumes: ['data:/data', '/x:/y']\n    healthcheck: {test: [CMD, a]}\n",
            "services:\n  web:\n    command: [c]\n    ports: ['80:80', '443:443']\n    volumes: ['other:/data']\n    healthcheck: {test: [CMD, b]}\n",
        );
        let w = &j["services"]["web"];
        assert_eq!(w["command"], serde_json::json!(["c"]));
        assert_eq!(w["ports"], serde_json::json!(["80:80", "443:443"]));
        assert_eq!(w["volumes"], serde_json::json!(["other:/data", "/x:/y"]));
        assert_eq!(w["healthcheck"]["test"], serde_json::json!(["CMD", "b"]));
    }

    #[test]
    fn depends_on_short_and_long_merge() {
        let j = m(
            "services:\n  web:\n    depends_on: [db]\n",
            "services:\n  web:\n    depends_on:\n      cache:\n        condition: service_healthy\n",
        );
        let d = &j["services"]["web"]["depends_on"];
        assert_eq!(d["db"]["condition"], "service_started");
        assert_eq!(d["cache"]["condition"], "service_healthy");
    }

    #[test]
    fn secrets_by_target_extensions_replaced() {
        let j = m(
            "x-a: {p: 1, q: 2}\nservices:\n  web:\n    secrets: [a, {source: b, target: /x}]\n    configs: [c]\n    x-b: {p: 1}\n",
            "x-a: {r: 3}\nservices:\n  web:\n    secrets: [{source: a2, target: /run/secrets/a}, {source: b2, target: /y}]\n    configs: [{source: c2, target: /c}]\n    x-b: {q: 2}\n",
        );
        let w = &j["services"]["web"];
        assert_eq!(
            w["secrets"],
            serde_json::json!([{"source": "a2", "target": "/run/secrets/a"}, {"source": "b", "target": "/x"}, {"source": "b2", "target": "/y"}])
        );
        assert_eq!(
            w["configs"],
            serde_json::json!([{"source": "c2", "target": "/c"}])
        );
        assert_eq!(j["x-a"], serde_json::json!({"r": 3}));
        assert_eq!(w["x-b"], serde_json::json!({"q": 2}));
    }

    #[test]
    fn reset_and_override_tags() {
        let j = m(
            "services:\n  web:\n    ports: ['80:80']\n    environment: {A: '1', B: '2'}\n",
            "services:\n  web:\n    ports: !reset []\n    environment: !override {C: '3'}\n",
        );
        let w = &j["services"]["web"];
        assert!(w.get("ports").is_none(), "{w}");
        assert_eq!(w["environment"], serde_json::json!({"C": "3"}));
    }
}
