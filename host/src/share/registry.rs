//! Talking to an OCI registry through `oci-client`: a plugin is pushed as the CNCF
//! Wasm artifact (config `application/vnd.wasm.config.v0+json`, one
//! `application/wasm` layer: the `.wasm` itself) and pulled by digest, its bytes
//! checked against the manifest. Every transfer is bounded in bytes and time.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_wasm::{ToConfig, WasmConfig, WASM_LAYER_MEDIA_TYPE, WASM_MANIFEST_CONFIG_MEDIA_TYPE};

use super::config::Registries;
use super::credentials::{self, EnvCredentials};
use super::reference::{plain_http, signature_tag};
use super::signature::{SignatureDoc, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE};
use crate::util::digest::sha256_hex;

/// The largest plugin accepted (a Python plugin, CPython inside, is ~20 MB).
pub const MAX_PLUGIN_BYTES: u64 = 256 << 20;
/// The largest manifest or signature document accepted.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// How long one push or pull may take in all.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);
/// The layer media type wasm-to-oci used before the CNCF artifact settled.
const OLD_WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";

/// Whether a registry's answer means "no such manifest" (the error's kind, not its
/// words: a URL holding a digest can read like anything).
fn is_missing(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode};
    match e {
        E::ImageManifestNotFoundError(_) | E::ServerError { code: 404, .. } => true,
        E::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|x| matches!(x.code, OciErrorCode::ManifestUnknown)),
        _ => false,
    }
}

/// How to reach registries: the config's `[registries]` and the credentials.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub registries: Registries,
    pub env: EnvCredentials,
    /// The registry the command line names (the variables' credentials go there).
    pub named: Option<String>,
}

/// A plugin as a registry served it, checked against its manifest.
pub struct Fetched {
    /// The manifest as served (its digest is `manifest_digest`).
    pub manifest: String,
    pub manifest_digest: String,
    pub bytes: Vec<u8>,
    /// The sha256 (hex) of `bytes`, which is the layer digest.
    pub sha256: String,
}

/// A client for the registry of one reference.
pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    name: String,
}

impl Registry {
    pub fn connect(reference: &Reference, access: &Access) -> Result<Registry> {
        let name = reference.resolve_registry().to_string();
        let protocol = if plain_http(&name, &access.registries.insecure) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let mut extra_root_certificates = Vec::new();
        if let Some(ca) = &access.registries.ca {
            let pem = std::fs::read(ca).with_context(|| {
                format!(
                    "cannot read the registry CA file `{}` ([registries] ca)",
                    ca.display()
                )
            })?;
            extra_root_certificates.push(oci_client::client::Certificate {
                encoding: oci_client::client::CertificateEncoding::Pem,
                data: pem,
            });
        }
        let config = ClientConfig {
            protocol,
            extra_root_certificates,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let docker_config =
            credentials::docker_config_path().and_then(|p| std::fs::read_to_string(p).ok());
        let auth = credentials::for_registry(
            &name,
            access.named.as_deref(),
            &access.env,
            docker_config.as_deref(),
        );
        Ok(Registry {
            client: Client::new(config),
            auth,
            name,
        })
    }

    /// Words for a failed registry call, with what to do about it.
    fn explain(&self, what: &str, e: impl std::error::Error) -> anyhow::Error {
        // The causes say what went wrong (a refused certificate, a refused connection);
        // registries end their JSON bodies with a newline: keep the error one line.
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        let lower = message.to_lowercase();
        let hint = if lower.contains("401")
            || lower.contains("unauthorized")
            || lower.contains("authentication")
        {
            format!(
                "; log in with `docker login {}`, or set DOCKWRIGHT_REGISTRY_USERNAME and DOCKWRIGHT_REGISTRY_PASSWORD",
                self.name
            )
        } else if lower.contains("certificate") {
            format!(
                "; if {} uses a private CA, name its certificate file as `ca` under [registries] in the config",
                self.name
            )
        } else if lower.contains("error sending request") || lower.contains("connect") {
            format!(
                "; is the registry {} up, and does it speak {}?",
                self.name,
                if lower.contains("https") {
                    "TLS (list it under [registries] insecure if it is plain HTTP)"
                } else {
                    "HTTP"
                }
            )
        } else {
            String::new()
        };
        anyhow!("{what} at registry {}: {message}{hint}", self.name)
    }

    async fn bounded<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::time::timeout(TRANSFER_TIMEOUT, f)
            .await
            .map_err(|_| {
                anyhow!(
                    "{what} at registry {} took longer than {}s",
                    self.name,
                    TRANSFER_TIMEOUT.as_secs()
                )
            })?
    }

    /// Push a plugin; returns the manifest digest.
    pub async fn push_plugin(
        &self,
        reference: &Reference,
        bytes: Vec<u8>,
        annotations: BTreeMap<String, String>,
    ) -> Result<String> {
        let (config, layer) = WasmConfig::from_raw_component(bytes, None)
            .context("cannot describe the component for its OCI config")?;
        let config = config.to_config()?;
        self.bounded(
            "pushing",
            self.push_artifact(reference, layer, config, Some(annotations)),
        )
        .await
    }

    /// Push the blobs and then the manifest, whose exact bytes are ours: the digest
    /// returned (and signed) is the digest of what was sent.
    async fn push_artifact(
        &self,
        reference: &Reference,
        layer: ImageLayer,
        config: Config,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<String> {
        self.client
            .store_auth_if_needed(&self.name, &self.auth)
            .await;
        let mut manifest =
            OciImageManifest::build(std::slice::from_ref(&layer), &config, annotations);
        manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_string());
        self.client
            .push_blob(reference, layer.data.clone(), &layer.sha256_digest())
            .await
            .map_err(|e| self.explain("cannot push the layer", e))?;
        self.client
            .push_blob(reference, config.data.clone(), &config.sha256_digest())
            .await
            .map_err(|e| self.explain("cannot push the config", e))?;
        let body = serde_json::to_vec(&manifest)?;
        let digest = format!("sha256:{}", sha256_hex(&body));
        self.client
            .push_manifest_raw(reference, body, OCI_IMAGE_MEDIA_TYPE.parse()?)
            .await
            .map_err(|e| self.explain("cannot push the manifest", e))?;
        Ok(digest)
    }

    /// Push a signature of `manifest_digest` beside it.
    pub async fn push_signature(&self, reference: &Reference, doc: &SignatureDoc) -> Result<()> {
        let tag = signature_tag(&doc.subject);
        let target = Reference::with_tag(
            reference.registry().to_string(),
            reference.repository().to_string(),
            tag,
        );
        let layer = ImageLayer::new(serde_json::to_vec(doc)?, LAYER_MEDIA_TYPE.to_string(), None);
        let config = Config::new(b"{}".to_vec(), CONFIG_MEDIA_TYPE.to_string(), None);
        self.bounded(
            "pushing the signature",
            self.push_artifact(&target, layer, config, None),
        )
        .await
        .map(|_| ())
    }

    /// The manifest `reference` names, as served, with its digest (computed here:
    /// a registry's header is not trusted).
    async fn manifest(&self, reference: &Reference) -> Result<(String, String)> {
        let (raw, _) = self
            .client
            .pull_manifest_raw(reference, &self.auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await
            .map_err(|e| self.explain(&format!("cannot get the manifest of {reference}"), e))?;
        if raw.len() > MAX_DOCUMENT_BYTES {
            bail!("the manifest of {reference} is {} bytes, more than the {MAX_DOCUMENT_BYTES} a plugin's may be", raw.len());
        }
        let digest = format!("sha256:{}", sha256_hex(&raw));
        if let Some(pinned) = reference.digest() {
            if pinned != digest {
                bail!("registry {} served a manifest with digest {digest} for {reference}, which pins {pinned}: refused", self.name);
            }
        }
        let text = String::from_utf8(raw.to_vec())
            .map_err(|_| anyhow!("the manifest of {reference} is not UTF-8"))?;
        Ok((text, digest))
    }

    /// The digest the reference resolves to now.
    pub async fn resolve(&self, reference: &Reference) -> Result<String> {
        self.bounded("resolving", async { Ok(self.manifest(reference).await?.1) })
            .await
    }

    /// Pull a plugin: the manifest (by tag, then everything by its digest), the one
    /// wasm layer, checked against the manifest's digest and size.
    pub async fn fetch_plugin(&self, reference: &Reference) -> Result<Fetched> {
        self.bounded("pulling", self.fetch_plugin_inner(reference))
            .await
    }

    async fn fetch_plugin_inner(&self, reference: &Reference) -> Result<Fetched> {
        let (manifest, manifest_digest) = self.manifest(reference).await?;
        let pinned = reference.clone_with_digest(manifest_digest.clone());
        let parsed: OciImageManifest = serde_json::from_str(&manifest)
            .with_context(|| format!("the manifest of {reference} is not an OCI image manifest"))?;
        if parsed.config.media_type != WASM_MANIFEST_CONFIG_MEDIA_TYPE {
            bail!(
                "{reference} is not a Wasm component artifact: its config is `{}`, not `{WASM_MANIFEST_CONFIG_MEDIA_TYPE}` (was it pushed with `dockwright plugins push` or `wkg oci push`?)",
                parsed.config.media_type
            );
        }
        let layer = match parsed.layers.as_slice() {
            [layer] => layer,
            layers => bail!(
                "{reference} has {} layers; a Wasm component artifact has exactly one",
                layers.len()
            ),
        };
        if layer.media_type != WASM_LAYER_MEDIA_TYPE
            && layer.media_type != OLD_WASM_LAYER_MEDIA_TYPE
        {
            bail!(
                "the layer of {reference} is `{}`, not `{WASM_LAYER_MEDIA_TYPE}`",
                layer.media_type
            );
        }
        let size = u64::try_from(layer.size).unwrap_or(u64::MAX);
        if size > MAX_PLUGIN_BYTES {
            bail!("the plugin at {reference} is {size} bytes, more than the {MAX_PLUGIN_BYTES} a plugin may be");
        }
        let bytes = self.blob(&pinned, layer, size).await?;
        let sha256 = sha256_hex(&bytes);
        Ok(Fetched {
            manifest,
            manifest_digest,
            bytes,
            sha256,
        })
    }

    /// A blob, at most `size` bytes, whose digest must be the descriptor's.
    async fn blob(
        &self,
        reference: &Reference,
        layer: &OciDescriptor,
        size: u64,
    ) -> Result<Vec<u8>> {
        let mut stream = self
            .client
            .pull_blob_stream(reference, layer)
            .await
            .map_err(|e| self.explain(&format!("cannot get the layer of {reference}"), e))?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(64 << 20));
        let mut failure = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() as u64 > size {
                        bail!("registry {} sent more than the {size} bytes the manifest of {reference} gives for its layer: refused", self.name);
                    }
                }
                // oci-client checks the digest at the end of the stream too; the
                // check below names both digests, so that one wins when they agree.
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let actual = format!("sha256:{}", sha256_hex(&bytes));
        if actual != layer.digest {
            // A stream cut short is a failed read, unless oci-client's own digest
            // check is what ended it.
            let cut_short = failure.as_ref().is_some_and(|e| {
                (bytes.len() as u64) < size && !e.to_string().to_lowercase().contains("digest")
            });
            if !cut_short {
                bail!(
                    "registry {} served bytes with digest {actual} for the layer of {reference}, whose manifest says {}: refused",
                    self.name,
                    layer.digest
                );
            }
        }
        if let Some(e) = failure {
            return Err(self.explain(&format!("cannot read the layer of {reference}"), e));
        }
        Ok(bytes)
    }

    /// The signature pushed beside `manifest_digest`, if there is one. A registry
    /// that has none answers 404; any other failure is an error, not "unsigned".
    pub async fn fetch_signature(
        &self,
        reference: &Reference,
        manifest_digest: &str,
    ) -> Result<Option<SignatureDoc>> {
        let target = Reference::with_tag(
            reference.registry().to_string(),
            reference.repository().to_string(),
            signature_tag(manifest_digest),
        );
        let result = self
            .client
            .pull_manifest_raw(&target, &self.auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await;
        let raw = match result {
            Ok((raw, _)) => raw,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(self.explain("cannot look for the signature", e)),
        };
        if raw.len() > MAX_DOCUMENT_BYTES {
            bail!("the signature manifest of {reference} is too large");
        }
        let parsed: OciImageManifest = serde_json::from_slice(&raw)
            .with_context(|| format!("the signature of {reference} is not an OCI manifest"))?;
        let [layer] = parsed.layers.as_slice() else {
            bail!("the signature of {reference} has no single layer");
        };
        if layer.media_type != LAYER_MEDIA_TYPE
            || layer.size < 0
            || layer.size as usize > MAX_DOCUMENT_BYTES
        {
            bail!(
                "the signature of {reference} is not a dockwright signature (`{}`)",
                layer.media_type
            );
        }
        let bytes = self.blob(&target, layer, layer.size as u64).await?;
        let doc: SignatureDoc = serde_json::from_slice(&bytes)
            .with_context(|| format!("the signature of {reference} cannot be read"))?;
        Ok(Some(doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_client::errors::OciDistributionError as E;

    #[test]
    fn only_a_missing_manifest_reads_as_unsigned() {
        let url = format!("http://r/v2/p/manifests/sha256-{}404.sig", "a".repeat(61));
        assert!(is_missing(&E::ServerError {
            code: 404,
            url: url.clone(),
            message: String::new()
        }));
        assert!(is_missing(&E::ImageManifestNotFoundError(url.clone())));
        // A failure whose URL happens to hold "404" is a failure, not "no signature".
        assert!(!is_missing(&E::ServerError {
            code: 500,
            url,
            message: "not found in cache".into()
        }));
        assert!(!is_missing(&E::AuthenticationFailure("401".into())));
    }
}
