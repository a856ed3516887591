//! `compose kube`: the same app as Kubernetes manifests, built from k8s-openapi's typed
//! objects (so every field name and shape is the API's) and serialised to YAML.
//!
//! Each service becomes a Deployment (replicas, image, command/args, env, resources,
//! healthcheck as liveness and readiness probes, user as runAsUser) and, when it has
//! `ports` or `expose`, a ClusterIP Service of the same name (so service-name DNS
//! works as in compose). Named volumes become PersistentVolumeClaims, `configs`
//! ConfigMaps and `secrets` Secrets, mounted where compose mounts them. What has no
//! Kubernetes equivalent (depends_on ordering, restart: no, bind mounts) is reported as
//! a warning, never dropped silently.

use crate::model::{FileObject, Project, Service};
use crate::Error;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    ExecAction, HostAlias, HostPathVolumeSource, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodDNSConfig, PodDNSConfigOption, PodSecurityContext,
    PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, Secret,
    SecretVolumeSource, SecurityContext, Service as KService, ServicePort, ServiceSpec, Sysctl,
    Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;
use std::collections::{BTreeMap, BTreeSet};

/// The manifests, in apply order (claims, config maps and secrets before workloads).
#[derive(Debug, Default)]
pub struct Objects {
    /// (kind, name, YAML document)
    pub items: Vec<(String, String, String)>,
    pub warnings: Vec<String>,
}

impl Objects {
    /// One file per object: `<name>-<kind>.yaml`.
    pub fn files(&self) -> Vec<(String, String)> {
        self.items
            .iter()
            .map(|(kind, name, text)| {
                (
                    format!("{name}-{}.yaml", kind.to_ascii_lowercase()),
                    text.clone(),
                )
            })
            .collect()
    }

    /// All objects as one YAML stream.
    pub fn stream(&self) -> String {
        self.items
            .iter()
            .map(|(_, _, t)| format!("---\n{t}"))
            .collect()
    }

    fn push<T: serde::Serialize>(&mut self, kind: &str, name: &str, obj: &T) {
        let text = serde_yaml::to_string(obj).expect("Kubernetes objects serialise");
        self.items.push((kind.into(), name.into(), text));
    }
}

/// A DNS-1123 label from a compose name (`my_app` -> `my-app`).
pub fn dns_name(s: &str) -> Result<String, Error> {
    let n: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let n = n.trim_matches('-').to_string();
    if n.is_empty() || n.len() > 63 {
        return Err(Error::Other(format!(
            "{s:?} cannot be a Kubernetes name: it must become 1 to 63 letters, digits and dashes"
        )));
    }
    Ok(n)
}

fn meta(name: &str, project: &str, service: Option<&str>) -> ObjectMeta {
    let mut labels = BTreeMap::from([
        ("app.kubernetes.io/part-of".to_string(), project.to_string()),
        (
            "app.kubernetes.io/managed-by".to_string(),
            "berth-compose".to_string(),
        ),
    ]);
    if let Some(s) = service {
        labels.insert("app.kubernetes.io/name".into(), s.to_string());
    }
    ObjectMeta {
        name: Some(name.to_string()),
        labels: Some(labels),
        ..Default::default()
    }
}

fn file_bytes(kind: &str, key: &str, o: &FileObject) -> Result<Vec<u8>, Error> {
    if let Some(f) = &o.file {
        return std::fs::read(f)
            .map_err(|e| Error::Other(format!("{kind}s.{key}: cannot read {f}: {e}")));
    }
    if let Some(c) = &o.content {
        return Ok(c.clone().into_bytes());
    }
    if let Some(v) = &o.environment {
        return std::env::var(v).map(String::into_bytes).map_err(|_| {
            Error::Other(format!(
                "{kind}s.{key}: environment variable {v} is not set"
            ))
        });
    }
    Err(Error::Other(format!(
        "{kind}s.{key} is external: it has no content to put in a manifest"
    )))
}

fn probe(s: &Service) -> Option<Probe> {
    let h = s.healthcheck.as_ref()?;
    if h.disable || h.test.is_empty() || h.test[0] == "NONE" {
        return None;
    }
    let command = match h.test[0].as_str() {
        "CMD-SHELL" => vec!["/bin/sh".to_string(), "-c".into(), h.test[1..].join(" ")],
        "CMD" => h.test[1..].to_vec(),
        _ => h.test.clone(),
    };
    let secs = |d: Option<crate::model::Duration>, def: u64| -> i32 {
        (d.map(|d| d.0).unwrap_or(def * 1000).div_ceil(1000)).max(1) as i32
    };
    Some(Probe {
        exec: Some(ExecAction {
            command: Some(command),
        }),
        period_seconds: Some(secs(h.interval, 30)),
        timeout_seconds: Some(secs(h.timeout, 30)),
        failure_threshold: Some(h.retries.unwrap_or(3).max(1) as i32),
        initial_delay_seconds: h.start_period.map(|d| (d.0 / 1000) as i32),
        ..Default::default()
    })
}

/// Builds the manifests of a project.
pub fn export(p: &Project) -> Result<Objects, Error> {
    let mut out = Objects::default();
    let project = dns_name(&p.name)?;

    // Claims for the named volumes that services use.
    let mut used_volumes = BTreeSet::new();
    for s in p.services.values() {
        for v in &s.volumes {
            if let (Some(src), "volume") = (&v.source, v.kind.as_str()) {
                used_volumes.insert(src.clone());
            }
        }
    }
    for key in &used_volumes {
        let name = dns_name(key)?;
        let pvc = PersistentVolumeClaim {
            metadata: meta(&name, &project, None),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_string(),
                        Quantity("1Gi".into()),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        out.push("PersistentVolumeClaim", &name, &pvc);
    }
    for (key, c) in &p.configs {
        let name = dns_name(key)?;
        let data = file_bytes("config", key, c)?;
        let mut cm = ConfigMap {
            metadata: meta(&name, &project, None),
            ..Default::default()
        };
        match String::from_utf8(data) {
            Ok(text) => cm.data = Some(BTreeMap::from([(key.clone(), text)])),
            Err(e) => {
                cm.binary_data = Some(BTreeMap::from([(key.clone(), ByteString(e.into_bytes()))]))
            }
        }
        out.push("ConfigMap", &name, &cm);
    }
    for (key, s) in &p.secrets {
        let name = dns_name(key)?;
        let secret = Secret {
            metadata: meta(&name, &project, None),
            type_: Some("Opaque".into()),
            data: Some(BTreeMap::from([(
                key.clone(),
                ByteString(file_bytes("secret", key, s)?),
            )])),
            ..Default::default()
        };
        out.push("Secret", &name, &secret);
    }

    for (sname, s) in &p.services {
        let name = dns_name(sname)?;
        let (deployment, service) = workload(p, &project, sname, &name, s, &mut out.warnings)?;
        if let Some(svc) = service {
            out.push("Service", &name, &svc);
        }
        out.push("Deployment", &name, &deployment);
    }
    Ok(out)
}

fn workload(
    p: &Project,
    project: &str,
    sname: &str,
    name: &str,
    s: &Service,
    warnings: &mut Vec<String>,
) -> Result<(Deployment, Option<KService>), Error> {
    let selector = BTreeMap::from([
        ("app.kubernetes.io/part-of".to_string(), project.to_string()),
        ("app.kubernetes.io/name".to_string(), name.to_string()),
    ]);
    let mut volumes: Vec<Volume> = Vec::new();
    let mut mounts: Vec<VolumeMount> = Vec::new();
    for (i, v) in s.volumes.iter().enumerate() {
        let vol_name = format!("{name}-v{i}");
        let mut vol = Volume {
            name: vol_name.clone(),
            ..Default::default()
        };
        match (v.kind.as_str(), &v.source) {
            ("volume", Some(src)) => {
                vol.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                    claim_name: dns_name(src)?,
                    read_only: v.read_only.then_some(true),
                })
            }
            ("volume", None) => vol.empty_dir = Some(EmptyDirVolumeSource::default()),
            ("tmpfs", _) => {
                vol.empty_dir = Some(EmptyDirVolumeSource {
                    medium: Some("Memory".into()),
                    size_limit: v.tmpfs_size.map(|b| Quantity(b.to_string())),
                })
            }
            (_, src) => {
                let src = src.clone().unwrap_or_default();
                warnings.push(format!(
                    "services.{sname}.volumes: the bind mount of {src} becomes a hostPath volume, which exists only on the node the pod runs on"
                ));
                vol.host_path = Some(HostPathVolumeSource {
                    path: src,
                    type_: None,
                });
            }
        }
        volumes.push(vol);
        mounts.push(VolumeMount {
            name: vol_name,
            mount_path: v.target.clone(),
            read_only: v.read_only.then_some(true),
            ..Default::default()
        });
    }
    if let Some(size) = s.shm_size {
        let vol_name = format!("{name}-shm");
        volumes.push(Volume {
            name: vol_name.clone(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: Some(Quantity(size.to_string())),
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: vol_name,
            mount_path: "/dev/shm".into(),
            ..Default::default()
        });
    }
    for (kind, refs) in [("secret", &s.secrets), ("config", &s.configs)] {
        for r in refs {
            let obj = dns_name(&r.source)?;
            let vol_name = format!("{name}-{kind}-{obj}");
            let target = match (&r.target, kind) {
                (Some(t), _) if t.starts_with('/') => t.clone(),
                (Some(t), "secret") => format!("/run/secrets/{t}"),
                (Some(t), _) => format!("/{t}"),
                (None, "secret") => format!("/run/secrets/{}", r.source),
                (None, _) => format!("/{}", r.source),
            };
            let mode = r.mode.map(|m| m as i32);
            let mut vol = Volume {
                name: vol_name.clone(),
                ..Default::default()
            };
            if kind == "secret" {
                vol.secret = Some(SecretVolumeSource {
                    secret_name: Some(obj),
                    default_mode: mode,
                    ..Default::default()
                });
            } else {
                vol.config_map = Some(ConfigMapVolumeSource {
                    name: obj,
                    default_mode: mode,
                    ..Default::default()
                });
            }
            volumes.push(vol);
            mounts.push(VolumeMount {
                name: vol_name,
                mount_path: target,
                sub_path: Some(r.source.clone()),
                read_only: Some(true),
                ..Default::default()
            });
        }
    }

    let mut ports: Vec<(u16, u16, String)> = Vec::new(); // (service port, container port, protocol)
    for port in &s.ports {
        let published = port
            .published
            .as_deref()
            .and_then(|x| x.parse::<u16>().ok())
            .unwrap_or(port.target);
        ports.push((published, port.target, port.protocol.to_ascii_uppercase()));
    }
    for e in &s.expose {
        let (num, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let n: u16 = num
            .parse()
            .map_err(|_| Error::Other(format!("services.{sname}.expose: {e:?} is not a port")))?;
        if !ports.iter().any(|(_, t, _)| *t == n) {
            ports.push((n, n, proto.to_ascii_uppercase()));
        }
    }

    let mut limits = BTreeMap::new();
    let lim = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.clone())
        .unwrap_or_default();
    if let Some(c) = lim.cpus.or(s.cpus) {
        limits.insert(
            "cpu".to_string(),
            Quantity(format!("{}m", (c * 1000.0).round() as i64)),
        );
    }
    if let Some(m) = lim.memory.or(s.mem_limit) {
        limits.insert("memory".to_string(), Quantity(m.to_string()));
    }
    let (mut run_as_user, mut run_as_group) = (None, None);
    if let Some(u) = &s.user {
        let (uid, gid) = u
            .split_once(':')
            .map(|(a, b)| (a, Some(b)))
            .unwrap_or((u, None));
        match uid.parse::<i64>() {
            Ok(n) => {
                run_as_user = Some(n);
                run_as_group = gid.and_then(|g| g.parse().ok());
            }
            Err(_) => warnings.push(format!(
                "services.{sname}.user: {u:?} is a name; Kubernetes takes numeric ids (runAsUser), so the image's user is kept"
            )),
        }
    }
    // Only a restart policy the user wrote is worth a word; "no" is also the default.
    if let Some(r @ ("no" | "on-failure")) = s
        .restart
        .as_deref()
        .map(|r| r.split(':').next().unwrap_or(r))
    {
        warnings.push(format!(
            "services.{sname}: a Deployment always restarts its pods (restart: {r})"
        ));
    }
    if s.build.is_some() {
        warnings.push(format!(
            "services.{sname}: its image {} is built, not pulled: push it to a registry the cluster can pull from",
            s.image_name(&p.name, sname)
        ));
    }
    if !s.depends_on.is_empty() {
        warnings.push(format!(
            "services.{sname}.depends_on: Kubernetes starts pods in no particular order; the readiness probes stand in for service_healthy"
        ));
    }
    let (extras, host_aliases) = kube_network_extras(s, sname, warnings);
    let no_new_privileges = s.security_opt.iter().any(|o| {
        matches!(
            o.as_str(),
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
        )
    });
    let mut seccomp_profile = None;
    for o in s.security_opt.iter().filter(|o| o.starts_with("seccomp")) {
        if o.ends_with("unconfined") {
            seccomp_profile = Some(SeccompProfile {
                type_: "Unconfined".into(),
                localhost_profile: None,
            });
        } else {
            warnings.push(format!(
                "services.{sname}.security_opt: {o}: a custom seccomp profile must be installed on the nodes (seccompProfile type Localhost); the runtime's default applies"
            ));
        }
    }
    if !s.ulimits.is_empty() {
        warnings.push(format!(
            "services.{sname}.ulimits: Kubernetes has no per-pod ulimits; the nodes' container runtime defaults apply"
        ));
    }
    if s.logging.is_some() {
        warnings.push(format!(
            "services.{sname}.logging: the cluster's logging applies, not the compose file's"
        ));
    }
    let env: Vec<EnvVar> = s
        .environment
        .iter()
        .map(|(k, v)| EnvVar {
            name: k.clone(),
            value: Some(v.clone().unwrap_or_default()),
            ..Default::default()
        })
        .collect();
    let probe = probe(s);
    let container = Container {
        name: name.to_string(),
        image: Some(s.image_name(&p.name, sname)),
        command: s.entrypoint.clone().filter(|e| !e.is_empty()),
        args: s.command.clone(),
        env: (!env.is_empty()).then_some(env),
        working_dir: s.working_dir.clone(),
        ports: (!ports.is_empty()).then(|| {
            ports
                .iter()
                .map(|(_, t, proto)| ContainerPort {
                    container_port: *t as i32,
                    protocol: Some(proto.clone()),
                    ..Default::default()
                })
                .collect()
        }),
        resources: (!limits.is_empty()).then(|| ResourceRequirements {
            limits: Some(limits),
            ..Default::default()
        }),
        liveness_probe: probe.clone(),
        readiness_probe: probe,
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        tty: s.tty.then_some(true),
        stdin: s.stdin_open.then_some(true),
        security_context: (s.privileged
            || s.read_only
            || no_new_privileges
            || seccomp_profile.is_some()
            || !s.cap_add.is_empty()
            || !s.cap_drop.is_empty())
        .then(|| SecurityContext {
            privileged: s.privileged.then_some(true),
            allow_privilege_escalation: no_new_privileges.then_some(false),
            seccomp_profile,
            read_only_root_filesystem: s.read_only.then_some(true),
            capabilities: (!s.cap_add.is_empty() || !s.cap_drop.is_empty()).then(|| {
                k8s_openapi::api::core::v1::Capabilities {
                    add: (!s.cap_add.is_empty()).then(|| s.cap_add.clone()),
                    drop: (!s.cap_drop.is_empty()).then(|| s.cap_drop.clone()),
                }
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut pod_meta = meta(name, project, Some(name));
    pod_meta.name = None;
    let deployment = Deployment {
        metadata: meta(name, project, Some(name)),
        spec: Some(DeploymentSpec {
            replicas: Some(s.replicas() as i32),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(pod_meta),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    hostname: s.hostname.clone(),
                    termination_grace_period_seconds: s
                        .stop_grace_period
                        .map(|d| d.0.div_ceil(1000) as i64),
                    security_context: (run_as_user.is_some() || !s.sysctls.is_empty()).then(|| {
                        PodSecurityContext {
                            run_as_user,
                            run_as_group,
                            sysctls: (!s.sysctls.is_empty()).then(|| {
                                s.sysctls
                                    .iter()
                                    .map(|(k, v)| Sysctl {
                                        name: k.clone(),
                                        value: v.clone(),
                                    })
                                    .collect()
                            }),
                            ..Default::default()
                        }
                    }),
                    host_aliases,
                    dns_config: extras,
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let service = (!ports.is_empty()).then(|| KService {
        metadata: meta(name, project, Some(name)),
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(
                ports
                    .iter()
                    .map(|(port, target, proto)| ServicePort {
                        name: Some(format!("{}-{port}", proto.to_ascii_lowercase())),
                        port: *port as i32,
                        target_port: Some(IntOrString::Int(*target as i32)),
                        protocol: Some(proto.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    });
    Ok((deployment, service))
}

/// `dns`, `dns_search`, `dns_opt` as the pod's dnsConfig (added to the cluster's DNS),
/// `extra_hosts` as hostAliases; `host-gateway` has no equivalent (a warning).
fn kube_network_extras(
    s: &Service,
    sname: &str,
    warnings: &mut Vec<String>,
) -> (Option<PodDNSConfig>, Option<Vec<HostAlias>>) {
    let dns = (!s.dns.is_empty() || !s.dns_search.is_empty() || !s.dns_opt.is_empty()).then(|| {
        PodDNSConfig {
            nameservers: (!s.dns.is_empty()).then(|| s.dns.clone()),
            searches: (!s.dns_search.is_empty()).then(|| s.dns_search.clone()),
            options: (!s.dns_opt.is_empty()).then(|| {
                s.dns_opt
                    .iter()
                    .map(|o| {
                        let (name, value) = match o.split_once(':') {
                            Some((n, v)) => (n.to_string(), Some(v.to_string())),
                            None => (o.clone(), None),
                        };
                        PodDNSConfigOption {
                            name: Some(name),
                            value,
                        }
                    })
                    .collect()
            }),
        }
    });
    let mut by_ip: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in &s.extra_hosts {
        let Some((name, ip)) = h.split_once('=') else {
            continue;
        };
        if ip == "host-gateway" {
            warnings.push(format!(
                "services.{sname}.extra_hosts: {name}:host-gateway has no Kubernetes equivalent; left out"
            ));
            continue;
        }
        by_ip
            .entry(ip.to_string())
            .or_default()
            .push(name.to_string());
    }
    let aliases = (!by_ip.is_empty()).then(|| {
        by_ip
            .into_iter()
            .map(|(ip, hostnames)| HostAlias {
                ip,
                hostnames: Some(hostnames),
            })
            .collect()
    });
    (dns, aliases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load, Options};

    fn project(yaml: &str) -> (tempfile::TempDir, Project) {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("compose.yaml"), yaml).unwrap();
        std::fs::write(t.path().join("app.conf"), "listen 80;\n").unwrap();
        std::fs::write(t.path().join("pw.txt"), "hunter2").unwrap();
        let p = load(&Options {
            working_dir: t.path().to_path_buf(),
            project_name: Some("shop_app".into()),
            ..Default::default()
        })
        .unwrap();
        (t, p)
    }

    fn docs(o: &Objects) -> Vec<serde_json::Value> {
        o.items
            .iter()
            .map(|(_, _, t)| serde_yaml::from_str::<serde_json::Value>(t).unwrap())
            .collect()
    }

    #[test]
    fn services_volumes_configs_and_secrets_become_typed_objects() {
        let (_t, p) = project(
            r#"
services:
  web_front:
    image: nginx:1.27
    command: [nginx, -g, "daemon off;"]
    ports: ["8080:80"]
    environment: {MODE: prod}
    user: "101:101"
    restart: always
    deploy:
      replicas: 3
      resources: {limits: {cpus: '0.5', memory: 128m}}
    healthcheck: {test: [CMD, curl, -f, localhost], interval: 10s, retries: 5}
    configs: [{source: site, target: /etc/nginx/conf.d/site.conf}]
    secrets: [pw]
    volumes: [cache:/var/cache/nginx]
  worker:
    image: busybox
    expose: ["9000"]
    restart: unless-stopped
volumes: {cache: {}}
configs: {site: {file: ./app.conf}}
secrets: {pw: {file: ./pw.txt}}
"#,
        );
        let o = export(&p).unwrap();
        let kinds: Vec<(&str, &str)> = o
            .items
            .iter()
            .map(|(k, n, _)| (k.as_str(), n.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("PersistentVolumeClaim", "cache"),
                ("ConfigMap", "site"),
                ("Secret", "pw"),
                ("Service", "web-front"),
                ("Deployment", "web-front"),
                ("Service", "worker"),
                ("Deployment", "worker"),
            ]
        );
        let d = docs(&o);
        assert_eq!(d[0]["apiVersion"], "v1");
        assert_eq!(d[0]["spec"]["resources"]["requests"]["storage"], "1Gi");
        assert_eq!(d[1]["data"]["site"], "listen 80;\n");
        assert_eq!(d[2]["data"]["pw"], "aHVudGVyMg==");
        let svc = &d[3];
        assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(
            svc["spec"]["selector"]["app.kubernetes.io/name"],
            "web-front"
        );
        let dep = &d[4];
        assert_eq!(dep["apiVersion"], "apps/v1");
        assert_eq!(dep["kind"], "Deployment");
        assert_eq!(dep["spec"]["replicas"], 3);
        // The selector picks the template's pods.
        for (k, v) in dep["spec"]["selector"]["matchLabels"].as_object().unwrap() {
            assert_eq!(&dep["spec"]["template"]["metadata"]["labels"][k], v, "{k}");
        }
        let c = &dep["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "nginx:1.27");
        assert_eq!(c["args"], serde_json::json!(["nginx", "-g", "daemon off;"]));
        assert_eq!(
            c["env"][0],
            serde_json::json!({"name": "MODE", "value": "prod"})
        );
        assert_eq!(c["resources"]["limits"]["cpu"], "500m");
        assert_eq!(
            c["resources"]["limits"]["memory"],
            (128u64 << 20).to_string()
        );
        assert_eq!(
            c["livenessProbe"]["exec"]["command"],
            serde_json::json!(["curl", "-f", "localhost"])
        );
        assert_eq!(c["livenessProbe"]["periodSeconds"], 10);
        assert_eq!(c["readinessProbe"]["failureThreshold"], 5);
        let mounts = c["volumeMounts"].as_array().unwrap();
        assert!(mounts.iter().any(|m| m["mountPath"] == "/var/cache/nginx"));
        assert!(mounts
            .iter()
            .any(|m| m["mountPath"] == "/run/secrets/pw" && m["subPath"] == "pw"));
        assert!(mounts
            .iter()
            .any(|m| m["mountPath"] == "/etc/nginx/conf.d/site.conf"));
        assert_eq!(
            dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
            101
        );
        let worker = &d[5];
        assert_eq!(worker["spec"]["ports"][0]["port"], 9000);
        assert!(o.stream().matches("---\n").count() == 7);
        assert!(o
            .files()
            .iter()
            .any(|(f, _)| f == "web-front-deployment.yaml"));
    }

    #[test]
    fn hosts_dns_sysctls_shm_and_security_options() {
        let (_t, p) = project(
            "services:\n  a:\n    image: x\n    extra_hosts: ['db=10.0.0.5', 'gw:host-gateway']\n    dns: 10.9.9.9\n    dns_search: corp.example\n    dns_opt: ['ndots:2', 'rotate']\n    sysctls: {net.core.somaxconn: 1024}\n    shm_size: 256m\n    security_opt: ['no-new-privileges:true', 'seccomp=unconfined']\n    ulimits: {nofile: 1024}\n",
        );
        let o = export(&p).unwrap();
        let d = docs(&o);
        let dep = d.iter().find(|x| x["kind"] == "Deployment").unwrap();
        let pod = &dep["spec"]["template"]["spec"];
        assert_eq!(pod["hostAliases"][0]["ip"], "10.0.0.5");
        assert_eq!(pod["hostAliases"][0]["hostnames"][0], "db");
        assert_eq!(pod["dnsConfig"]["nameservers"][0], "10.9.9.9");
        assert_eq!(pod["dnsConfig"]["searches"][0], "corp.example");
        assert_eq!(pod["dnsConfig"]["options"][0]["name"], "ndots");
        assert_eq!(pod["dnsConfig"]["options"][0]["value"], "2");
        assert_eq!(pod["dnsConfig"]["options"][1]["name"], "rotate");
        assert_eq!(
            pod["securityContext"]["sysctls"][0]["name"],
            "net.core.somaxconn"
        );
        let c = &pod["containers"][0];
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["seccompProfile"]["type"], "Unconfined");
        assert!(c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"] == "/dev/shm"));
        let w = o.warnings.join("\n");
        assert!(w.contains("host-gateway"), "{w}");
        assert!(w.contains("ulimits"), "{w}");
    }

    #[test]
    fn what_kubernetes_cannot_do_is_a_warning() {
        let (_t, p) = project(
            "services:\n  a:\n    image: x\n    user: app\n    restart: on-failure:3\n    volumes: ['./src:/src']\n    depends_on: [b]\n  b:\n    build: .\n",
        );
        let o = export(&p).unwrap();
        let w = o.warnings.join("\n");
        assert!(w.contains("hostPath"), "{w}");
        assert!(w.contains("numeric ids"), "{w}");
        assert!(w.contains("depends_on"), "{w}");
        assert!(
            w.contains("always restarts its pods (restart: on-failure)"),
            "{w}"
        );
        assert!(
            w.contains("services.b: its image shop_app-b is built"),
            "{w}"
        );
        assert_eq!(w.matches("always restarts").count(), 1, "{w}");
    }

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_name("My_App").unwrap(), "my-app");
        assert!(dns_name("___").is_err());
    }
}
