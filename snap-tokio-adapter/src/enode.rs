//! Peer addresses: `enode://<128 hex node id>@<ip>:<port>` URLs.

use std::{net::SocketAddr, str::FromStr};

use crate::rlpx::NodeId;

/// A peer address: `enode://<128 hex node id>@<ip>:<port>` (query string ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Enode {
    /// The node id.
    pub id: NodeId,
    /// Its TCP address.
    pub addr: SocketAddr,
}

/// An enode URL that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid enode url: {0}")]
pub struct EnodeError(&'static str);

impl FromStr for Enode {
    type Err = EnodeError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let rest = url.strip_prefix("enode://").ok_or(EnodeError("no enode:// scheme"))?;
        let (id, host) = rest.split_once('@').ok_or(EnodeError("no @host"))?;
        let host = host.split('?').next().unwrap_or_default();
        let bytes = ::hex::decode(id).map_err(|_| EnodeError("node id is not hex"))?;
        let id: [u8; 64] = bytes.try_into().map_err(|_| EnodeError("node id is not 64 bytes"))?;
        let addr = host.parse().map_err(|_| EnodeError("host is not ip:port"))?;
        Ok(Self { id: NodeId::from(id), addr })
    }
}

impl std::fmt::Display for Enode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "enode://{}@{}", ::hex::encode(self.id), self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enode_urls_parse_and_print() {
        let id = "a".repeat(128);
        let enode: Enode =
            format!("enode://{id}@127.0.0.1:30303?discport=30301").parse().expect("parses");
        assert_eq!(enode.addr, "127.0.0.1:30303".parse().expect("addr"));
        assert_eq!(enode.to_string(), format!("enode://{id}@127.0.0.1:30303"));
        assert!("enode://abcd@127.0.0.1:1".parse::<Enode>().is_err());
        assert!(
            format!("enode://{id}@127.0.0.1:1").replace("enode", "enr").parse::<Enode>().is_err()
        );
        assert!(format!("enode://{id}@localhost").parse::<Enode>().is_err());
    }
}
