//! Signing keys: ed25519 key pairs in the text forms dockwright writes, and
//! signatures over a plugin's OCI manifest digest.
//!
//! A public key reads `ed25519:<base64 of 32 bytes>`; a private key file holds
//! `ed25519-private:<base64 of the 32-byte seed>`. What is signed is the manifest
//! digest behind a fixed prefix, so a signature made for a plugin manifest can never
//! be replayed as a signature over something else.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

const PUBLIC_PREFIX: &str = "ed25519:";
const PRIVATE_PREFIX: &str = "ed25519-private:";
/// What the signed message starts with (domain separation).
const SIGNED_PREFIX: &[u8] = b"dockwright plugin manifest signature v1\n";

/// A key pair: the private half and the public key in its text form.
pub struct KeyPair {
    signing: SigningKey,
}

/// Shows only the public key: a private key never reaches a log.
impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair({})", self.public())
    }
}

impl KeyPair {
    /// A new key pair from the operating system's randomness.
    pub fn generate() -> Result<KeyPair, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| format!("no randomness for a new key: {e}"))?;
        Ok(KeyPair {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// The private key file's text.
    pub fn private_text(&self) -> String {
        format!(
            "{PRIVATE_PREFIX}{}\n",
            STANDARD.encode(self.signing.to_bytes())
        )
    }

    /// Read a private key file's text.
    pub fn from_private_text(text: &str) -> Result<KeyPair, String> {
        let b64 = text
            .trim()
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or_else(|| format!("it does not start with `{PRIVATE_PREFIX}`"))?;
        let seed: [u8; 32] = STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("its key is not base64 of 32 bytes")?;
        Ok(KeyPair {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// The public key, `ed25519:<base64>`.
    pub fn public(&self) -> String {
        format!(
            "{PUBLIC_PREFIX}{}",
            STANDARD.encode(self.signing.verifying_key().to_bytes())
        )
    }

    /// A signature (base64) over a manifest digest such as `sha256:<hex>`.
    pub fn sign_manifest(&self, manifest_digest: &str) -> String {
        let sig = self.signing.sign(&signed_message(manifest_digest));
        STANDARD.encode(sig.to_bytes())
    }
}

fn signed_message(manifest_digest: &str) -> Vec<u8> {
    [SIGNED_PREFIX, manifest_digest.as_bytes()].concat()
}

/// Parse a public key, `ed25519:<base64 of 32 bytes>`.
pub fn parse_public(key: &str) -> Result<VerifyingKey, String> {
    let b64 = key
        .strip_prefix(PUBLIC_PREFIX)
        .ok_or_else(|| format!("the key `{key}` does not start with `{PUBLIC_PREFIX}`"))?;
    let bytes: [u8; 32] = STANDARD
        .decode(b64)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("the key `{key}` is not base64 of 32 bytes"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| format!("`{key}` is not an ed25519 public key"))
}

/// Whether `signature` (base64) by `public_key` is valid over `manifest_digest`.
pub fn verify_manifest(
    public_key: &str,
    manifest_digest: &str,
    signature: &str,
) -> Result<(), String> {
    let key = parse_public(public_key)?;
    let bytes: [u8; 64] = STANDARD
        .decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature is not base64 of 64 bytes")?;
    key.verify_strict(
        &signed_message(manifest_digest),
        &Signature::from_bytes(&bytes),
    )
    .map_err(|_| format!("the signature by {public_key} does not match manifest {manifest_digest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_signatures_verify() {
        let pair = KeyPair::generate().unwrap();
        let again = KeyPair::from_private_text(&pair.private_text()).unwrap();
        assert_eq!(pair.public(), again.public());
        assert!(pair.public().starts_with("ed25519:"));
        parse_public(&pair.public()).unwrap();

        let digest = format!("sha256:{}", "ab".repeat(32));
        let sig = pair.sign_manifest(&digest);
        verify_manifest(&pair.public(), &digest, &sig).unwrap();
        let other = format!("sha256:{}", "cd".repeat(32));
        let err = verify_manifest(&pair.public(), &other, &sig).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
        let stranger = KeyPair::generate().unwrap();
        assert!(verify_manifest(&stranger.public(), &digest, &sig).is_err());
    }

    #[test]
    fn malformed_keys_and_signatures_are_refused() {
        assert!(parse_public("rsa:AAAA").unwrap_err().contains("ed25519:"));
        assert!(parse_public("ed25519:AAAA")
            .unwrap_err()
            .contains("32 bytes"));
        assert!(KeyPair::from_private_text("ed25519-private:!!").is_err());
        assert!(KeyPair::from_private_text("hello").is_err());
        let pair = KeyPair::generate().unwrap();
        let err = verify_manifest(&pair.public(), "sha256:00", "short").unwrap_err();
        assert!(err.contains("64 bytes"), "{err}");
    }
}
