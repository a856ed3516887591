//! Image manifests and indexes, through oci-spec's types.

use crate::digest::Digest;
use crate::media;
use oci_spec::image::{
    Descriptor as OciDescriptor, Digest as OciDigest, ImageIndex, ImageManifest,
    ImageManifestBuilder, MediaType,
};
use std::str::FromStr;

/// A content descriptor in berth's own digest type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {what}: {why}")]
pub struct ManifestError {
    pub what: &'static str,
    pub why: String,
}

fn merr(what: &'static str, why: impl ToString) -> ManifestError {
    ManifestError {
        what,
        why: why.to_string(),
    }
}

fn to_oci(d: &Descriptor) -> OciDescriptor {
    let digest =
        OciDigest::from_str(&d.digest.to_string()).expect("sha256 digests are valid OCI digests");
    OciDescriptor::new(MediaType::from(d.media_type.as_str()), d.size, digest)
}

fn from_oci(d: &OciDescriptor, what: &'static str) -> Result<Descriptor, ManifestError> {
    Ok(Descriptor {
        media_type: d.media_type().to_string(),
        digest: d.digest().to_string().parse().map_err(|e| merr(what, e))?,
        size: d.size(),
    })
}

/// Serialises an OCI image manifest for a config and layers.
pub fn build_manifest(config: &Descriptor, layers: &[Descriptor]) -> Vec<u8> {
    let m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(to_oci(config))
        .layers(layers.iter().map(to_oci).collect::<Vec<_>>())
        .build()
        .expect("manifest has every required field");
    canonical(&m)
}

/// JSON with object keys sorted (oci-spec keeps annotations in a HashMap, whose order
/// changes from run to run): the same content always gets the same digest.
fn canonical<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let value = serde_json::to_value(v).expect("serialises");
    serde_json::to_vec(&value).expect("serialises")
}

/// What berth needs from a manifest (OCI or Docker schema 2).
#[derive(Debug, Clone)]
pub struct ParsedManifest {
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

pub fn parse_manifest(bytes: &[u8]) -> Result<ParsedManifest, ManifestError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| merr("manifest", e))?;
    if v.get("manifests").is_some() {
        return Err(merr(
            "manifest",
            "this is an image index, not an image manifest",
        ));
    }
    if v.get("schemaVersion").and_then(|s| s.as_u64()) != Some(2) {
        return Err(merr(
            "manifest",
            "schemaVersion must be 2 (schema 1 manifests are not supported)",
        ));
    }
    let m = ImageManifest::from_reader(bytes).map_err(|e| merr("manifest", e))?;
    let media_type = m
        .media_type()
        .as_ref()
        .map(|t| t.to_string())
        .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
    let config = from_oci(m.config(), "manifest config descriptor")?;
    let layers = m
        .layers()
        .iter()
        .map(|l| from_oci(l, "manifest layer descriptor"))
        .collect::<Result<Vec<_>, _>>()?;
    for l in &layers {
        if !media::is_layer(&l.media_type) {
            return Err(merr(
                "manifest",
                format!("unsupported layer media type {:?}", l.media_type),
            ));
        }
    }
    Ok(ParsedManifest {
        media_type,
        config,
        layers,
    })
}

/// One entry of an image index.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    pub descriptor: Descriptor,
    pub platform: Option<(String, String)>,
    /// The platform's CPU variant (`v8` of linux/arm64/v8), when the index gives one.
    pub variant: Option<String>,
    pub annotations: std::collections::HashMap<String, String>,
}

pub fn parse_index(bytes: &[u8]) -> Result<Vec<IndexEntry>, ManifestError> {
    let idx = ImageIndex::from_reader(bytes).map_err(|e| merr("image index", e))?;
    idx.manifests()
        .iter()
        .map(|d| {
            Ok(IndexEntry {
                descriptor: from_oci(d, "index entry")?,
                platform: d
                    .platform()
                    .as_ref()
                    .map(|p| (p.os().to_string(), p.architecture().to_string())),
                variant: d.platform().as_ref().and_then(|p| p.variant().clone()),
                annotations: d.annotations().clone().unwrap_or_default(),
            })
        })
        .collect()
}

/// Serialises an OCI image index whose entries carry annotations.
pub fn build_index(entries: &[(Descriptor, Vec<(String, String)>)]) -> Vec<u8> {
    let manifests: Vec<OciDescriptor> = entries
        .iter()
        .map(|(d, ann)| {
            let mut o = to_oci(d);
            if !ann.is_empty() {
                o.set_annotations(Some(ann.iter().cloned().collect()));
            }
            o
        })
        .collect();
    let idx = oci_spec::image::ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .expect("index has every required field");
    canonical(&idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_parse() {
        let cfg = Descriptor {
            media_type: media::OCI_CONFIG.into(),
            digest: Digest::of(b"c"),
            size: 1,
        };
        let l = Descriptor {
            media_type: media::OCI_LAYER_GZIP.into(),
            digest: Digest::of(b"l"),
            size: 2,
        };
        let m = parse_manifest(&build_manifest(&cfg, std::slice::from_ref(&l))).unwrap();
        assert_eq!(m.config, cfg);
        assert_eq!(m.layers, vec![l]);
        assert_eq!(m.media_type, media::OCI_MANIFEST);
        assert!(parse_manifest(br#"{"schemaVersion":1}"#).is_err());
        assert!(parse_manifest(b"not json").is_err());
    }
}
