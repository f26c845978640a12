//! What the subcommands share: the network and discovery flags, argument parsers, the result
//! type and opening the store.

use std::process::ExitCode;

use alloy_primitives::B256;
use snap_node::network::Network;
use snap_tokio_adapter::{chains::ChainChoice, discv5::Enr, enode::Enode};

/// Which network to announce: a built-in chain, the demo network, or a geth genesis file.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct NetworkArgs {
    /// The chain: mainnet, sepolia, hoodi, classic, mordor, demo, or a geth genesis.json
    /// (default: mainnet for sync, demo for serve and query).
    #[arg(long, alias = "genesis", value_name = "NAME|PATH")]
    pub(super) chain: Option<String>,
    /// Override the network id (default: the chain's, or the genesis chainId).
    #[arg(long)]
    pub(super) network_id: Option<u64>,
}

/// What `--chain` named.
#[derive(Debug, Clone)]
pub(super) enum ChainArg {
    /// The demo network.
    Demo,
    /// A built-in chain or a genesis file.
    Chain(ChainChoice),
}

impl NetworkArgs {
    /// The chain named, or `default` without `--chain`.
    pub(super) fn choice(&self, default: &str) -> Result<ChainArg, String> {
        let name = self.chain.as_deref().unwrap_or(default);
        if name.eq_ignore_ascii_case("demo") {
            return Ok(ChainArg::Demo);
        }
        ChainChoice::parse(name).map(ChainArg::Chain).map_err(|e| e.to_string())
    }
}

/// Discovery: where to start, whether at all, and on which port.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct DiscoveryArgs {
    /// Discovery bootnodes, comma-separated: enode URLs for discv4, `enr:` records for discv5
    /// (default: the chain's).
    #[arg(long, value_name = "ENODES|ENRS", value_delimiter = ',', value_parser = parse_bootnode)]
    pub(super) bootnodes: Option<Vec<Bootnode>>,
    /// Do not run peer discovery.
    #[arg(long)]
    pub(super) no_discovery: bool,
    /// Do not run discv5 (discv4 only).
    #[arg(long = "disable-discv5-discovery")]
    pub(super) disable_discv5: bool,
    /// The UDP port of discv5 (default 9200, or any free one if taken).
    #[arg(id = "discovery.v5.port", long = "discovery.v5.port", value_name = "PORT")]
    pub(super) discv5_port: Option<u16>,
}

/// A `--bootnodes` entry: an enode URL (discv4) or an ENR (discv5).
#[derive(Debug, Clone)]
pub(super) enum Bootnode {
    /// `enode://…`.
    Enode(Enode),
    /// `enr:-…`.
    Enr(Box<Enr>),
}

impl DiscoveryArgs {
    /// The discv4 and discv5 bootnodes: those given, else the chain's (`chain`, enodes).
    pub(super) fn bootnodes(&self, chain: Vec<Enode>) -> (Vec<Enode>, Vec<Enr>) {
        let Some(given) = &self.bootnodes else { return (chain, Vec::new()) };
        let mut enodes = Vec::new();
        let mut enrs = Vec::new();
        for bootnode in given {
            match bootnode {
                Bootnode::Enode(enode) => enodes.push(*enode),
                Bootnode::Enr(enr) => enrs.push((**enr).clone()),
            }
        }
        (enodes, enrs)
    }
}

fn parse_bootnode(s: &str) -> Result<Bootnode, String> {
    if s.trim_start().starts_with("enr:") {
        snap_tokio_adapter::discv5::parse_enr(s).map(|enr| Bootnode::Enr(Box::new(enr)))
    } else {
        parse_enode(s).map(Bootnode::Enode)
    }
}
/// A failure that ends the program with a message and exit code 1.
pub(super) type CliResult = Result<ExitCode, String>;

pub(super) fn parse_b256(s: &str) -> Result<B256, String> {
    s.parse::<B256>().map_err(|e| format!("{s}: {e}"))
}

/// The network `args` name (`default` without `--chain`); `headers` are served with a genesis
/// file. `None` for the demo network, whose description depends on the command.
pub(super) fn network(
    args: &NetworkArgs,
    default: &str,
    headers: Option<&std::path::Path>,
) -> Result<Option<(Network, Vec<Enode>)>, String> {
    let spec = match args.choice(default)? {
        ChainArg::Demo => {
            if headers.is_some() {
                return Err("--headers needs --chain PATH/genesis.json".into());
            }
            return Ok(None);
        }
        ChainArg::Chain(ChainChoice::Named(chain)) => {
            if headers.is_some() {
                return Err("--headers needs --chain PATH/genesis.json".into());
            }
            chain.spec()
        }
        ChainArg::Chain(ChainChoice::GenesisFile(path)) => {
            let network = Network::from_genesis(&path, headers, args.network_id)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok(Some((network, Vec::new())));
        }
    };
    let mut network = Network::from_spec(&spec);
    if let Some(id) = args.network_id {
        network.info.network_id = id;
    }
    Ok(Some((network, spec.bootnodes)))
}

pub(super) fn parse_enode(s: &str) -> Result<Enode, String> {
    s.parse::<Enode>().map_err(|e| e.to_string())
}

pub(super) fn open_store(datadir: &std::path::Path) -> Result<snap_store::RedbStore, String> {
    snap_store::RedbStore::open(datadir)
        .map_err(|e| format!("opening the store in {}: {e}", datadir.display()))
}
