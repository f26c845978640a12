//! What a datadir's sync is of: the network and the target the user asked for, kept beside the
//! store (`DIR/sync-identity`) so that a later run asking for something else is refused in
//! words instead of silently resuming (or reporting) the old sync.

use std::{fmt, io, path::Path};

use alloy_primitives::B256;

/// The file's name inside a datadir.
pub const IDENTITY_FILE: &str = "sync-identity";

/// What the user asked the sync's target to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AskedTarget {
    /// `--root`.
    Root(B256),
    /// `--block-hash`.
    BlockHash(B256),
    /// Chosen and followed from an anchor (peers or a consensus client): any target of the
    /// network will do.
    Following,
}

/// A sync's identity: its network and the target asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncIdentity {
    /// The network id.
    pub network_id: u64,
    /// The genesis block's hash.
    pub genesis: B256,
    /// The target asked for.
    pub target: AskedTarget,
}

impl fmt::Display for AskedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root(root) => write!(f, "root {root}"),
            Self::BlockHash(hash) => write!(f, "block {hash}"),
            Self::Following => f.write_str("the chain's head"),
        }
    }
}

impl SyncIdentity {
    /// The file's text.
    pub fn encode(&self) -> String {
        let target = match self.target {
            AskedTarget::Root(root) => format!("root {root}"),
            AskedTarget::BlockHash(hash) => format!("block {hash}"),
            AskedTarget::Following => "follow".to_owned(),
        };
        format!("network_id {}\ngenesis {}\ntarget {target}\n", self.network_id, self.genesis)
    }

    /// Parses [`Self::encode`]'s text; `None` when it is not that.
    pub fn decode(text: &str) -> Option<Self> {
        let mut network_id = None;
        let mut genesis = None;
        let mut target = None;
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("network_id"), Some(id), None) => network_id = id.parse().ok(),
                (Some("genesis"), Some(hash), None) => genesis = hash.parse().ok(),
                (Some("target"), Some("follow"), None) => target = Some(AskedTarget::Following),
                (Some("target"), Some("root"), Some(root)) => {
                    target = root.parse().ok().map(AskedTarget::Root);
                }
                (Some("target"), Some("block"), Some(hash)) => {
                    target = hash.parse().ok().map(AskedTarget::BlockHash);
                }
                _ => return None,
            }
        }
        Some(Self { network_id: network_id?, genesis: genesis?, target: target? })
    }

    /// Why a datadir holding a sync of `self` cannot continue as `wanted`, in words; `None`
    /// when it can.
    pub fn contradiction(&self, wanted: &Self) -> Option<String> {
        if self.genesis != wanted.genesis || self.network_id != wanted.network_id {
            return Some(format!(
                "it holds a sync of network {} (genesis {}), and this run is on network {} \
                 (genesis {})",
                self.network_id, self.genesis, wanted.network_id, wanted.genesis
            ));
        }
        if self.target != wanted.target {
            return Some(format!(
                "it holds a sync of {}, and this run asks for {}",
                self.target, wanted.target
            ));
        }
        None
    }
}

/// The identity recorded in `datadir`, if any (an unreadable file is an error, a missing one
/// is `None`).
pub fn read_identity(datadir: &Path) -> io::Result<Option<SyncIdentity>> {
    match std::fs::read_to_string(datadir.join(IDENTITY_FILE)) {
        Ok(text) => SyncIdentity::decode(&text).map(Some).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{IDENTITY_FILE} is damaged"))
        }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Records `identity` in `datadir`: written to a temporary file, synced, then renamed over the
/// old one, so a crash leaves either the old identity or the new one.
pub fn write_identity(datadir: &Path, identity: &SyncIdentity) -> io::Result<()> {
    use std::io::Write as _;
    let temporary = datadir.join(format!("{IDENTITY_FILE}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(identity.encode().as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, datadir.join(IDENTITY_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(target: AskedTarget) -> SyncIdentity {
        SyncIdentity { network_id: 1, genesis: B256::repeat_byte(7), target }
    }

    #[test]
    fn identities_round_trip_and_garbage_is_refused() {
        for target in [
            AskedTarget::Root(B256::repeat_byte(1)),
            AskedTarget::BlockHash(B256::repeat_byte(2)),
            AskedTarget::Following,
        ] {
            let id = identity(target);
            assert_eq!(SyncIdentity::decode(&id.encode()), Some(id));
        }
        assert_eq!(SyncIdentity::decode("network_id 1\ngenesis 0x01\n"), None);
        assert_eq!(SyncIdentity::decode("hello"), None);
    }

    #[test]
    fn another_root_block_or_network_is_a_contradiction_and_the_same_is_not() {
        let root = identity(AskedTarget::Root(B256::repeat_byte(1)));
        assert_eq!(root.contradiction(&root), None);
        let other_root = identity(AskedTarget::Root(B256::repeat_byte(3)));
        assert!(root.contradiction(&other_root).unwrap().contains("this run asks for root"));
        assert!(root.contradiction(&identity(AskedTarget::Following)).is_some());
        let block = identity(AskedTarget::BlockHash(B256::repeat_byte(1)));
        assert!(root.contradiction(&block).is_some());
        let mut other_network = root;
        other_network.network_id = 2;
        assert!(root.contradiction(&other_network).unwrap().contains("network 1"));
        let mut other_genesis = root;
        other_genesis.genesis = B256::ZERO;
        assert!(root.contradiction(&other_genesis).is_some());
    }

    #[test]
    fn written_identities_are_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_identity(dir.path()).expect("readable"), None);
        let id = identity(AskedTarget::Following);
        write_identity(dir.path(), &id).expect("written");
        assert_eq!(read_identity(dir.path()).expect("readable"), Some(id));
        std::fs::write(dir.path().join(IDENTITY_FILE), "garbage").expect("damaged");
        assert!(read_identity(dir.path()).is_err());
    }
}
