//! `berth import`: a rootfs tarball becomes a one-layer image.

use crate::error::Result;
use crate::images::{ImageRecord, NewImage};
use crate::layers::store_layer;
use crate::progress::Progress;
use crate::util::{content_time, rfc3339};
use crate::Store;
use berth_image::config::{apply_change, History, ImageConfig};
use berth_image::layer::DevicePolicy;
use berth_image::reference::Reference;
use std::io::Read;

#[derive(Default)]
pub struct ImportOptions {
    pub tags: Vec<Reference>,
    /// Dockerfile-style edits: `CMD ["sh"]`, `ENV A=B`, ...
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub devices: DevicePolicy,
    /// What the history entry says created the layer.
    pub created_by: Option<String>,
    /// A config to start from instead of an empty one (bootstrap sets PATH, CMD).
    pub base_config: Option<berth_image::config::RunConfig>,
}

impl Store {
    /// Imports a rootfs tarball (plain, gzip, zstd or xz) from `input`.
    pub fn import(
        &self,
        input: impl Read,
        opts: &ImportOptions,
        progress: &dyn Progress,
    ) -> Result<ImageRecord> {
        let mut cfg = ImageConfig::new_for_host();
        if let Some(base) = &opts.base_config {
            cfg.config = base.clone();
        }
        for c in &opts.changes {
            apply_change(&mut cfg.config, c).map_err(|e| crate::Error::invalid(e.to_string()))?;
        }
        let _lease = self.lease()?;
        progress.begin("importing layer", None);
        let layer = store_layer(&self.blobs, input, None, opts.devices, progress)?;
        progress.end(&format!(
            "layer {} ({} bytes)",
            layer.digest.short(),
            layer.size
        ));
        let created = rfc3339(content_time());
        cfg.created = Some(created.clone());
        cfg.rootfs.diff_ids = vec![layer.diff_id.to_string()];
        cfg.history = vec![History {
            created: Some(created),
            created_by: Some(
                opts.created_by
                    .clone()
                    .unwrap_or_else(|| "berth import".into()),
            ),
            comment: opts.message.clone(),
            ..Default::default()
        }];
        let config = cfg.to_json();
        self.commit_image(
            NewImage {
                config: &config,
                layers: vec![layer.into()],
                manifest: None,
            },
            &opts.tags,
        )
    }
}
