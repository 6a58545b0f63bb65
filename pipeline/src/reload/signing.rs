//! Signed rule sets: an ed25519 signature over a manifest's exact bytes
//! and its sequence number, so that only the holder of the private key can
//! make a set live, and an old signed set cannot be replayed once a newer
//! one has served.
//!
//! The signature travels with the manifest object (S3 user metadata
//! `orderflow-signature`, `orderflow-key-id`, `orderflow-sequence`): one
//! conditional PUT writes bytes and signature together, so a reader never
//! sees a manifest with another manifest's signature. The signed message
//! is [`signed_message`]: a domain tag, the sequence and the bytes.
//!
//! Key file: the 32-byte ed25519 seed as 64 hex digits (one line); the
//! public key is 64 hex digits too. A key id is the first 16 hex digits of
//! the public key's sha256, for logs and `status`.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use orderflow_host::manifest::sha256_hex;

/// What a manifest object says about its signature (all strings, as the
/// store holds them; checked by [`ManifestKey::verify`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureMeta {
    /// 128 hex digits.
    pub signature: Option<String>,
    pub key_id: Option<String>,
    pub sequence: Option<String>,
}

/// Why a manifest's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the manifest is not signed (a public key is configured)")]
    Unsigned,
    #[error("the manifest has no valid sequence number")]
    NoSequence,
    #[error("the signature is not 128 hex digits")]
    Malformed,
    #[error("signed by key {found:?}, not by the configured key {expected}")]
    WrongKey {
        found: Option<String>,
        expected: String,
    },
    #[error("the signature does not match the manifest (tampered, or signed by another key)")]
    Invalid,
    #[error("sequence {found} is older than the running set's {running}: a replay is refused")]
    Replay { found: u64, running: u64 },
}

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ed25519 key: expected 64 hex digits")]
pub struct KeyError;

/// The domain tag keeps a manifest signature from meaning anything else.
const DOMAIN: &[u8] = b"orderflow-manifest-v1\n";

/// The bytes a signature covers.
pub fn signed_message(sequence: u64, manifest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 21 + manifest.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(format!("{sequence}\n").as_bytes());
    m.extend_from_slice(manifest);
    m
}

fn hex32(s: &str) -> Result<[u8; 32], KeyError> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return Err(KeyError);
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| KeyError)?;
    }
    Ok(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key_id_of(key: &VerifyingKey) -> String {
    sha256_hex(key.as_bytes())[..16].to_string()
}

/// The publisher's private key.
pub struct ManifestSigner {
    key: SigningKey,
}

/// Never prints the key.
impl std::fmt::Debug for ManifestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ManifestSigner(key id {})", self.public_key().key_id())
    }
}

impl ManifestSigner {
    /// From a key file's text: the seed as 64 hex digits.
    pub fn from_hex(text: &str) -> Result<ManifestSigner, KeyError> {
        Ok(ManifestSigner {
            key: SigningKey::from_bytes(&hex32(text)?),
        })
    }

    pub fn from_seed(seed: [u8; 32]) -> ManifestSigner {
        ManifestSigner {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The key file's text.
    pub fn seed_hex(&self) -> String {
        to_hex(self.key.as_bytes())
    }

    pub fn public_key(&self) -> ManifestKey {
        ManifestKey {
            key: self.key.verifying_key(),
        }
    }

    /// `(signature hex, key id)` for `manifest` at `sequence`.
    pub fn sign(&self, sequence: u64, manifest: &[u8]) -> (String, String) {
        let sig = self.key.sign(&signed_message(sequence, manifest));
        (to_hex(&sig.to_bytes()), self.public_key().key_id())
    }
}

/// The public key the functions verify manifests against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestKey {
    key: VerifyingKey,
}

impl ManifestKey {
    /// From 64 hex digits (`ORDERFLOW_MANIFEST_PUBLIC_KEY`).
    pub fn from_hex(text: &str) -> Result<ManifestKey, KeyError> {
        Ok(ManifestKey {
            key: VerifyingKey::from_bytes(&hex32(text)?).map_err(|_| KeyError)?,
        })
    }

    pub fn to_hex(&self) -> String {
        to_hex(self.key.as_bytes())
    }

    pub fn key_id(&self) -> String {
        key_id_of(&self.key)
    }

    /// The manifest's signed sequence number, if `bytes` and `meta` carry a
    /// valid signature by this key.
    pub fn verify(&self, bytes: &[u8], meta: &SignatureMeta) -> Result<u64, SignatureError> {
        let sig = meta.signature.as_deref().ok_or(SignatureError::Unsigned)?;
        let sequence: u64 = meta
            .sequence
            .as_deref()
            .and_then(|s| s.parse().ok())
            .ok_or(SignatureError::NoSequence)?;
        let expected = self.key_id();
        if meta.key_id.as_deref() != Some(expected.as_str()) {
            return Err(SignatureError::WrongKey {
                found: meta.key_id.clone(),
                expected,
            });
        }
        let sig = sig.trim();
        if sig.len() != 128 {
            return Err(SignatureError::Malformed);
        }
        let (a, b) = (hex32(&sig[..64]), hex32(&sig[64..]));
        let (Ok(a), Ok(b)) = (a, b) else {
            return Err(SignatureError::Malformed);
        };
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&a);
        raw[32..].copy_from_slice(&b);
        self.key
            .verify(
                &signed_message(sequence, bytes),
                &Signature::from_bytes(&raw),
            )
            .map_err(|_| SignatureError::Invalid)?;
        Ok(sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(signer: &ManifestSigner, seq: u64, bytes: &[u8]) -> SignatureMeta {
        let (signature, key_id) = signer.sign(seq, bytes);
        SignatureMeta {
            signature: Some(signature),
            key_id: Some(key_id),
            sequence: Some(seq.to_string()),
        }
    }

    #[test]
    fn a_good_signature_verifies_and_anything_else_is_refused() {
        let signer = ManifestSigner::from_seed([7; 32]);
        let key = ManifestKey::from_hex(&signer.public_key().to_hex()).unwrap();
        let meta = signed(&signer, 3, b"{}");
        assert_eq!(key.verify(b"{}", &meta), Ok(3));
        assert_eq!(key.verify(b"{ }", &meta), Err(SignatureError::Invalid));
        let bumped = SignatureMeta {
            sequence: Some("4".into()),
            ..meta.clone()
        };
        assert_eq!(key.verify(b"{}", &bumped), Err(SignatureError::Invalid));
        assert_eq!(
            key.verify(b"{}", &SignatureMeta::default()),
            Err(SignatureError::Unsigned)
        );
        let other = ManifestSigner::from_seed([8; 32]);
        assert!(matches!(
            key.verify(b"{}", &signed(&other, 3, b"{}")),
            Err(SignatureError::WrongKey { .. })
        ));
        // Another key's signature under this key's id is still refused.
        let forged = SignatureMeta {
            key_id: meta.key_id.clone(),
            ..signed(&other, 3, b"{}")
        };
        assert_eq!(key.verify(b"{}", &forged), Err(SignatureError::Invalid));
        let short = SignatureMeta {
            signature: Some("ab".into()),
            ..meta
        };
        assert_eq!(key.verify(b"{}", &short), Err(SignatureError::Malformed));
    }

    #[test]
    fn key_files_round_trip() {
        let signer = ManifestSigner::from_seed([1; 32]);
        let again = ManifestSigner::from_hex(&format!("{}\n", signer.seed_hex())).unwrap();
        assert_eq!(again.public_key(), signer.public_key());
        assert_eq!(signer.public_key().key_id().len(), 16);
        assert_eq!(ManifestKey::from_hex("zz").unwrap_err(), KeyError);
        assert!(ManifestSigner::from_hex(&"g".repeat(64)).is_err());
    }
}
