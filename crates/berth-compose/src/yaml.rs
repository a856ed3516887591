//! A YAML document as a tree of nodes that remember where they came from (file, line,
//! column), built from yaml-rust2's marked events. Anchors and aliases are expanded,
//! merge keys (`<<`) applied, duplicate keys refused, and the `!reset`/`!override` tags
//! of the compose merge rules kept on the node they mark. Plain scalars are typed as
//! YAML 1.2's core schema does (null, bool, int, float, string).

use crate::Error;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts: a file and a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// The compose merge tags: `!reset` drops a value, `!override` replaces instead of merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeTag {
    Reset,
    Override,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string scalar (quoted, block or plain that is no other type).
    Str(String),
    Seq(Vec<Node>),
    /// Keys in document order; keys are scalars rendered as strings.
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    pub tag: Option<MergeTag>,
}

impl Node {
    pub fn new(value: Value, pos: Pos) -> Node {
        Node {
            value,
            pos,
            tag: None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a number",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(m) => m.iter_mut().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A scalar as text (numbers and booleans as YAML writes them), None for the rest.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            _ => None,
        }
    }

    /// Converts to JSON (for hashing and for serde-typed parts).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => s.clone().into(),
            Value::Seq(v) => v.iter().map(Node::to_json).collect(),
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| (k.name.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

/// Parses the first YAML document of a stream into a node tree.
pub fn parse(text: &str, file: &str) -> Result<Node, Error> {
    Ok(parse_all(text, file)?
        .into_iter()
        .next()
        .unwrap_or(Node::new(
            Value::Null,
            Pos {
                file: Arc::from(file),
                line: 1,
                col: 1,
            },
        )))
}

/// Parses every document of a YAML stream (`---` separated).
pub fn parse_all(text: &str, file: &str) -> Result<Vec<Node>, Error> {
    let file: Arc<str> = Arc::from(file);
    let mut b = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
        error: None,
    };
    let mut p = Parser::new_from_str(text);
    if let Err(e) = p.load(&mut b, true) {
        return Err(Error::at(
            Pos {
                file,
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            format!("invalid YAML: {}", e.info()),
        ));
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok(b.docs)
}

enum Frame {
    Seq(Node, usize),
    /// The mapping, its anchor, a key waiting for its value, and the keys that came
    /// from merge keys (which explicit keys may override).
    Map(Node, usize, Option<Key>, Vec<String>),
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    docs: Vec<Node>,
    error: Option<Error>,
}

fn merge_tag(tag: &Option<Tag>) -> Option<MergeTag> {
    match tag.as_ref().map(|t| t.suffix.as_str()) {
        Some("reset") => Some(MergeTag::Reset),
        Some("override") => Some(MergeTag::Override),
        _ => None,
    }
}

fn plain_scalar(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits(unsigned) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Int(i);
        }
    }
    if let Some(h) = s.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(h, 16) {
            return Value::Int(i);
        }
    }
    if let Some(o) = s.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(o, 8) {
            return Value::Int(i);
        }
    }
    let looks_float = unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && unsigned.bytes().any(|b| b.is_ascii_digit())
        && unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_float {
        if let Ok(f) = s.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

impl Builder {
    fn pos(&self, m: &Marker) -> Pos {
        Pos {
            file: self.file.clone(),
            line: m.line(),
            col: m.col() + 1,
        }
    }

    fn fail(&mut self, pos: Pos, msg: String) {
        if self.error.is_none() {
            self.error = Some(Error::at(pos, msg));
        }
    }

    /// Places a finished node in its parent (or as a document).
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(seq, _)) => {
                if let Value::Seq(v) = &mut seq.value {
                    v.push(node)
                }
            }
            Some(Frame::Map(map, _, pending, from_merge)) => match pending.take() {
                None => {
                    // This node is a key.
                    let name = match &node.value {
                        Value::Str(s) => s.clone(),
                        Value::Null => "null".into(),
                        Value::Bool(b) => b.to_string(),
                        Value::Int(i) => i.to_string(),
                        Value::Float(f) => f.to_string(),
                        _ => {
                            let pos = node.pos.clone();
                            self.fail(pos, "a mapping key must be a scalar".into());
                            String::new()
                        }
                    };
                    if let Some(Frame::Map(_, _, pending, _)) = self.stack.last_mut() {
                        *pending = Some(Key {
                            name,
                            pos: node.pos,
                        });
                    }
                }
                Some(key) => {
                    let Value::Map(entries) = &mut map.value else {
                        return;
                    };
                    if key.name == "<<" {
                        // Merge key: the mapping (or each mapping of a list) fills keys not set.
                        let sources: Vec<Node> = match node.value {
                            Value::Map(_) => vec![node],
                            Value::Seq(v) => v,
                            _ => {
                                let pos = key.pos.clone();
                                self.fail(
                                    pos,
                                    "the merge key << needs a mapping or a list of mappings".into(),
                                );
                                return;
                            }
                        };
                        let mut merged: Vec<(Key, Node)> = Vec::new();
                        for s in sources {
                            if let Value::Map(m) = s.value {
                                for (k, v) in m {
                                    if !merged.iter().any(|(x, _)| x.name == k.name) {
                                        merged.push((k, v));
                                    }
                                }
                            }
                        }
                        // Keys given explicitly (before or after <<) win.
                        for (k, v) in merged {
                            if !entries.iter().any(|(x, _)| x.name == k.name) {
                                from_merge.push(k.name.clone());
                                entries.push((
                                    Key {
                                        name: k.name,
                                        pos: k.pos,
                                    },
                                    Node { tag: v.tag, ..v },
                                ));
                            }
                        }
                        return;
                    }
                    if let Some(i) = entries.iter().position(|(k, _)| k.name == key.name) {
                        // A key that came from a merge key may be overridden; a key written
                        // twice is an error.
                        if let Some(j) = from_merge.iter().position(|n| *n == key.name) {
                            from_merge.remove(j);
                        } else {
                            let prev = &entries[i].0;
                            let msg = format!(
                                "mapping key {:?} already defined at line {}",
                                key.name, prev.pos.line
                            );
                            let pos = key.pos.clone();
                            self.fail(pos, msg);
                            return;
                        }
                        entries[i] = (key, node);
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = self.pos(&mark);
        match ev {
            Event::Scalar(s, style, anchor, tag) => {
                let value = match (style, &tag) {
                    (_, Some(t)) if t.suffix == "str" => Value::Str(s),
                    (TScalarStyle::Plain, _) => plain_scalar(&s),
                    _ => Value::Str(s),
                };
                let mut n = Node::new(value, pos);
                n.tag = merge_tag(&tag);
                self.push_node(n, anchor);
            }
            Event::SequenceStart(anchor, tag) => {
                let mut n = Node::new(Value::Seq(Vec::new()), pos);
                n.tag = merge_tag(&tag);
                self.stack.push(Frame::Seq(n, anchor));
            }
            Event::MappingStart(anchor, tag) => {
                let mut n = Node::new(Value::Map(Vec::new()), pos);
                n.tag = merge_tag(&tag);
                self.stack.push(Frame::Map(n, anchor, None, Vec::new()));
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq(n, a)) | Some(Frame::Map(n, a, _, _)) => self.push_node(n, a),
                None => {}
            },
            Event::DocumentStart => self.anchors.clear(),
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut n) => {
                    // The alias is used here: errors about it point here.
                    n.pos = pos;
                    self.push_node(n, 0)
                }
                None => self.fail(pos, "unknown alias".into()),
            },
            _ => {}
        }
    }
}

/// Writes a JSON value as block-style YAML (used for `config` output).
pub fn to_yaml<T: serde::Serialize>(v: &T) -> String {
    serde_yaml::to_string(v).expect("the model serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Node {
        parse(s, "t.yaml").unwrap()
    }

    #[test]
    fn scalars_are_typed_like_yaml_core() {
        let n = p(
            "a: 1\nb: '1'\nc: true\nd: yes\ne: ~\nf: 1.5\ng: 0x1f\nh: \"x\"\ni: 1e3\nj: 1.2.3\n",
        );
        let j = n.to_json();
        assert_eq!(j["a"], 1);
        assert_eq!(j["b"], "1");
        assert_eq!(j["c"], true);
        assert_eq!(j["d"], "yes");
        assert!(j["e"].is_null());
        assert_eq!(j["f"], 1.5);
        assert_eq!(j["g"], 31);
        assert_eq!(j["h"], "x");
        assert_eq!(j["i"], 1000.0);
        assert_eq!(j["j"], "1.2.3");
    }

    #[test]
    fn positions_are_lines_of_the_file() {
        let n = p("services:\n  web:\n    image: x\n    ports:\n      - 80\n");
        let web = n.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.pos.line, 3);
        assert_eq!(web.get("image").unwrap().pos.line, 3);
        let Value::Map(m) = &web.value else { panic!() };
        assert_eq!(m[1].0.pos.line, 4);
        assert_eq!(m[1].0.name, "ports");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = p("x-base: &base\n  image: busybox\n  environment:\n    A: 1\nservices:\n  a:\n    <<: *base\n    image: other\n  b: *base\n  c:\n    <<: [*base, {user: nobody}]\n");
        let j = n.to_json();
        assert_eq!(j["services"]["a"]["image"], "other");
        assert_eq!(j["services"]["a"]["environment"]["A"], 1);
        assert_eq!(j["services"]["b"]["image"], "busybox");
        assert_eq!(j["services"]["c"]["user"], "nobody");
        assert_eq!(j["services"]["c"]["image"], "busybox");
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_lines() {
        let e = parse("a: 1\nb: 2\na: 3\n", "dup.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("dup.yaml:3:"), "{e}");
        assert!(e.contains("already defined at line 1"), "{e}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = parse("a:\n  - b\n c: d\n", "bad.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bad.yaml:3"), "{e}");
    }

    #[test]
    fn several_documents() {
        let docs = parse_all("a: 1\n---\nb: 2\n...\n---\nc: 3\n", "m.yaml").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[2].get("c").unwrap().pos.line, 6);
        // Anchors do not cross documents.
        assert!(parse_all("a: &x 1\n---\nb: *x\n", "m.yaml").is_err());
    }

    #[test]
    fn merge_tags_are_kept() {
        let n = p("a: !reset []\nb: !override {x: 1}\n");
        assert_eq!(n.get("a").unwrap().tag, Some(MergeTag::Reset));
        assert_eq!(n.get("b").unwrap().tag, Some(MergeTag::Override));
    }
}
