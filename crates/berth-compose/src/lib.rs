//! berth-compose owns the compose specification: it finds and reads compose files (with
//! file and line for every error), reads `.env`, interpolates variables, merges several
//! files and `extends` by the specification's rules, applies profiles, checks the model
//! (unknown keys, types, references, dependency cycles) and yields a typed [`Project`];
//! it orders services by their dependencies, prints the resolved model (`config`), and
//! exports the app as Kubernetes manifests built from typed objects. All of that is pure
//! (files in, values out). Running a project is `engine`: containers through
//! berth-runtime, labelled as Docker Compose labels them.

pub mod convert;
pub mod dotenv;
pub mod engine;
pub mod graph;
pub mod interp;
pub mod kube;
pub mod load;
pub mod merge;
pub mod model;
pub mod yaml;

pub use load::{load, Options};
pub use model::Project;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something wrong at a place in a file: `FILE:LINE: message`.
    #[error("{pos}: {msg}")]
    At { pos: yaml::Pos, msg: String },
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn at(pos: yaml::Pos, msg: String) -> Error {
        Error::At { pos, msg }
    }
}

/// The resolved model as YAML (`berth compose config`): a compose file that loads back
/// into the same model, so a literal `$` is written `$$`.
pub fn to_yaml(p: &Project) -> String {
    fn escape(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
            serde_json::Value::Array(a) => a.iter_mut().for_each(escape),
            serde_json::Value::Object(m) => m.values_mut().for_each(escape),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(p).expect("the model serialises");
    escape(&mut v);
    yaml::to_yaml(&v)
}

/// The configuration hash of a service: what `up` compares to decide whether to
/// recreate its containers (the number of replicas does not count).
pub fn config_hash(s: &model::Service) -> String {
    use sha2::Digest;
    let mut s = s.clone();
    if let Some(d) = s.deploy.as_mut() {
        d.replicas = None;
    }
    let json = serde_json::to_string(&s).expect("serialises");
    hex::encode(sha2::Sha256::digest(json.as_bytes()))
}
