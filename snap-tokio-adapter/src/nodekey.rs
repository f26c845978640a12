//! Node keys on disk: 64 hex characters, as geth's `nodekey` file.

use std::{io, path::Path};

use k256::SecretKey;
use rand_core::OsRng;

/// Loads a node key (64 hex characters, as geth's `nodekey`) from `path`, or generates one
/// and writes it there.
pub fn load_or_generate_key(path: &Path) -> io::Result<SecretKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = ::hex::decode(text.trim())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            SecretKey::from_slice(&bytes)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not a secp256k1 key"))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let key = SecretKey::random(&mut OsRng);
            std::fs::write(path, ::hex::encode(key.to_bytes()))?;
            Ok(key)
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_keys_are_generated_once_then_loaded() {
        let path = std::env::temp_dir().join(format!("snap-nodekey-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let generated = load_or_generate_key(&path).expect("generated");
        let loaded = load_or_generate_key(&path).expect("loaded");
        assert_eq!(generated.to_bytes(), loaded.to_bytes());
        std::fs::write(&path, "not hex").expect("write");
        assert!(load_or_generate_key(&path).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
