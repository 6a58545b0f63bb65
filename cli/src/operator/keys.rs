//! The manifest signing key an operator makes and publishes with.

use anyhow::{Context, Result};
use orderflow_pipeline::reload::ManifestSigner;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn read_signing_key(path: &Path) -> Result<ManifestSigner> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the signing key {}", path.display()))?;
    ManifestSigner::from_hex(&text).with_context(|| format!("{}", path.display()))
}

/// The seed comes from the operating system's random source.
pub(super) fn keygen(out: &Path) -> Result<ExitCode> {
    use std::io::{Read, Write};
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("reading /dev/urandom")?;
    let signer = ManifestSigner::from_seed(seed);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(out)
        .with_context(|| format!("creating {} (it must not exist yet)", out.display()))?;
    writeln!(file, "{}", signer.seed_hex())?;
    let public = signer.public_key();
    println!("{}", public.to_hex());
    eprintln!(
        "wrote the private key to {}; key id {}. Pass the public key above as ManifestPublicKey.",
        out.display(),
        public.key_id()
    );
    Ok(ExitCode::SUCCESS)
}
