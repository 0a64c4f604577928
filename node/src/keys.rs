//! Files the node keeps in its data directory: the token-signing key and the lock that keeps
//! a second process from opening the same directory.

use std::{
    fs::{File, OpenOptions},
    io::Write as _,
    path::Path,
};

use anyhow::{Context as _, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};

const KEY_FILE: &str = "token-signing.key";

/// An exclusive lock on the data directory, held while the node runs.
#[derive(Debug)]
pub struct DataDirLock(#[allow(dead_code)] File);

impl DataDirLock {
    /// Takes the lock or explains who holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Self(file)),
            Err(_) => bail!(
                "data directory {} is in use by another chatnode",
                dir.display()
            ),
        }
    }
}

/// The configured key, or the one kept in the data directory (created on first start).
pub fn signing_key(configured: Option<&str>, dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(encoded) = configured {
        return decode(encoded).context("auth.signing_key");
    }
    let path = dir.join(KEY_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return decode(text.trim()).with_context(|| format!("bad key in {}", path.display()));
    }
    let key = chat_actors::auth::generate_signing_key()?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(B64.encode(&key).as_bytes())?;
    file.sync_all()?;
    Ok(key)
}

pub(crate) fn decode(encoded: &str) -> anyhow::Result<Vec<u8>> {
    let key = B64.decode(encoded).context("not valid base64")?;
    if key.len() < 32 {
        bail!("the signing key must be at least 32 bytes");
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = signing_key(None, dir.path()).unwrap();
        let b = signing_key(None, dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(signing_key(Some("c2hvcnQ="), dir.path()).is_err());
    }

    #[test]
    fn second_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _held = DataDirLock::acquire(dir.path()).unwrap();
        assert!(DataDirLock::acquire(dir.path()).is_err());
    }
}
