//! discv4 nodes in a simulated network (virtual time, in-memory datagrams), honest and
//! hostile; and the tokio service over loopback UDP.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    time::{Duration, Instant},
};

use alloy_primitives::{B512, keccak256};
use k256::{SecretKey, ecdsa::SigningKey};

use super::{
    protocol::{Candidate, Discv4, Discv4Config, Discv4Limits},
    service::{Discovery, DiscoveryConfig},
    wire::{self, Endpoint, Message, NodeRecord},
};
use crate::{chains::NamedChain, eth::ChainInfo, rlpx::NodeId, session::Enode};

const UNIX: u64 = 1_780_000_000;

fn key(seed: u64) -> SecretKey {
    SecretKey::from_slice(keccak256(seed.to_be_bytes()).as_slice()).unwrap()
}

fn mainnet() -> ChainInfo {
    NamedChain::Mainnet.spec().chain_info()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Simulated nodes exchanging datagrams instantly, under a virtual clock.
struct Net {
    now: Instant,
    nodes: Vec<(SocketAddr, Discv4)>,
    candidates: HashMap<SocketAddr, Vec<Candidate>>,
    /// Datagrams sent to addresses where no node is, or dropped by `losses`.
    lost: HashMap<SocketAddr, usize>,
    /// Datagrams to lose: the next one to this address of this packet type, once each.
    losses: Vec<(SocketAddr, u8)>,
}

impl Net {
    fn new() -> Self {
        Self {
            now: Instant::now(),
            nodes: Vec::new(),
            candidates: HashMap::new(),
            lost: HashMap::new(),
            losses: Vec::new(),
        }
    }

    fn add(
        &mut self,
        seed: u64,
        port: u16,
        chain: Option<ChainInfo>,
        bootnodes: Vec<Enode>,
    ) -> Enode {
        let endpoint = Endpoint { ip: Some(addr(port).ip()), udp: port, tcp: port };
        let mut config = Discv4Config::new(key(seed), endpoint, chain);
        config.bootnodes = bootnodes;
        config.seed = seed;
        let node = Discv4::new(config, self.now, UNIX);
        let enode = Enode { id: node.local_id(), addr: addr(port) };
        self.nodes.push((addr(port), node));
        enode
    }

    fn node(&mut self, at: SocketAddr) -> &mut Discv4 {
        &mut self.nodes.iter_mut().find(|(a, _)| *a == at).expect("a node there").1
    }

    /// Delivers every datagram in flight, and what they cause, until all is quiet.
    fn deliver(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                let from = self.nodes[i].0;
                while let Some(transmit) = self.nodes[i].1.poll_transmit() {
                    moved = true;
                    let kind = transmit.packet[97];
                    if let Some(i) = self.losses.iter().position(|l| *l == (transmit.to, kind)) {
                        self.losses.remove(i);
                        *self.lost.entry(transmit.to).or_default() += 1;
                        continue;
                    }
                    match self.nodes.iter().position(|(a, _)| *a == transmit.to) {
                        Some(j) => {
                            let now = self.now;
                            self.nodes[j].1.handle_packet(now, from, &transmit.packet);
                        }
                        None => *self.lost.entry(transmit.to).or_default() += 1,
                    }
                }
                while let Some(candidate) = self.nodes[i].1.poll_candidate() {
                    self.candidates.entry(from).or_default().push(candidate);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the network never went quiet");
    }

    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        self.deliver();
        while self.now < end {
            self.now += Duration::from_millis(50);
            for (_, node) in &mut self.nodes {
                if node.poll_timeout().is_some_and(|t| t <= self.now) {
                    node.handle_timeout(self.now);
                }
            }
            self.deliver();
        }
    }

    fn proposed_to(&self, at: SocketAddr) -> HashSet<NodeId> {
        self.candidates.get(&at).into_iter().flatten().map(|c| c.enode.id).collect()
    }
}

#[test]
fn nodes_find_each_other_from_one_bootnode() {
    let mut net = Net::new();
    let boot = net.add(1, 30301, Some(mainnet()), Vec::new());
    let mut all = vec![boot];
    for seed in 2..=5 {
        all.push(net.add(seed, 30300 + seed as u16, Some(mainnet()), vec![boot]));
    }
    net.run_for(Duration::from_secs(30));
    for node in &all {
        let found = net.proposed_to(node.addr);
        let others: HashSet<NodeId> =
            all.iter().filter(|n| n.id != node.id).map(|n| n.id).collect();
        assert_eq!(found, others, "{} found {found:?}", node.addr);
        // Candidates carry the RLPx address and the fork id of the ENR.
        for candidate in &net.candidates[&node.addr] {
            let want = all.iter().find(|n| n.id == candidate.enode.id).unwrap();
            assert_eq!(candidate.enode, *want);
            assert_eq!(candidate.fork_id, Some(mainnet().forks.fork_id(0, 0)));
        }
        let stats = net.node(node.addr).stats();
        assert_eq!(stats.table, 4, "{stats:?}");
        assert_eq!((stats.invalid, stats.unsolicited, stats.rate_limited), (0, 0, 0), "{stats:?}");
    }
}

/// Whichever datagram of the first exchange with the bootnode is lost (a Ping, a Pong, an
/// ENR request or response, either way), the nodes still bond and propose each other within
/// seconds: the bootstrap and the ENR request are retried, not left for 30 s or for good.
#[test]
fn a_lost_ping_pong_or_enr_packet_of_the_first_bond_is_retried() {
    let kinds = [wire::PING, wire::PONG, wire::ENR_REQUEST, wire::ENR_RESPONSE];
    for (kind, to_boot) in kinds.into_iter().flat_map(|k| [(k, true), (k, false)]) {
        let mut net = Net::new();
        let boot = net.add(1, 30301, Some(mainnet()), Vec::new());
        let node = net.add(2, 30302, Some(mainnet()), vec![boot]);
        net.losses.push((if to_boot { boot.addr } else { node.addr }, kind));
        net.run_for(Duration::from_secs(3));
        let case = format!("packet type {kind} lost on its way to the bootnode: {to_boot}");
        assert!(net.losses.is_empty(), "{case}: nothing was lost");
        assert_eq!(net.proposed_to(boot.addr), HashSet::from([node.id]), "{case}");
        assert_eq!(net.proposed_to(node.addr), HashSet::from([boot.id]), "{case}");
    }
}

#[test]
fn nodes_of_another_chain_are_found_but_never_proposed() {
    let mut net = Net::new();
    let boot = net.add(1, 30301, Some(mainnet()), Vec::new());
    let ours = net.add(2, 30302, Some(mainnet()), vec![boot]);
    let classic = net.add(3, 30303, Some(NamedChain::Classic.spec().chain_info()), vec![boot]);
    let sepolia = net.add(4, 30304, Some(NamedChain::Sepolia.spec().chain_info()), vec![boot]);
    // A Classic node at Spiral: same network id and genesis as mainnet, another fork id.
    net.node(classic.addr).set_head(19_250_000, 0);
    net.run_for(Duration::from_secs(20));
    assert_eq!(net.proposed_to(ours.addr), HashSet::from([boot.id]));
    assert!(net.node(ours.addr).stats().table >= 3, "found, in the table");
    assert!(net.node(ours.addr).stats().other_chain >= 2);
    assert!(!net.proposed_to(sepolia.addr).contains(&ours.id));
}

#[test]
fn a_banned_node_is_not_proposed_again() {
    let mut net = Net::new();
    let boot = net.add(1, 30301, Some(mainnet()), Vec::new());
    let a = net.add(2, 30302, Some(mainnet()), vec![boot]);
    let b = net.add(3, 30303, Some(mainnet()), vec![boot]);
    net.node(a.addr).ban(b.id);
    net.run_for(Duration::from_secs(20));
    assert!(!net.proposed_to(a.addr).contains(&b.id));
    assert!(net.proposed_to(a.addr).contains(&boot.id));
}

/// A peer under the test's control, speaking discv4 by hand.
struct Raw {
    signing: SigningKey,
    id: NodeId,
    at: SocketAddr,
}

impl Raw {
    fn new(seed: u64, at: SocketAddr) -> Self {
        let secret = key(seed);
        let id = crate::rlpx::node_id(&secret.public_key());
        Self { signing: SigningKey::from(&secret), id, at }
    }

    fn packet(&self, message: &Message) -> Vec<u8> {
        wire::encode(&self.signing, message).0
    }

    fn ping(&self, to: SocketAddr) -> Vec<u8> {
        let from = Endpoint { ip: Some(self.at.ip()), udp: self.at.port(), tcp: self.at.port() };
        let to = Endpoint { ip: Some(to.ip()), udp: to.port(), tcp: to.port() };
        self.packet(&Message::Ping { version: 4, from, to, expiration: UNIX + 60, enr_seq: None })
    }
}

fn small_limits() -> Discv4Limits {
    Discv4Limits {
        max_bonds: 64,
        max_pending: 32,
        max_queued_candidates: 8,
        max_proposed: 64,
        max_banned: 16,
        max_sources: 32,
        max_verify_queue: 16,
        max_transmits: 128,
        ..Discv4Limits::default()
    }
}

fn lone_node(limits: Discv4Limits, bootnodes: Vec<Enode>) -> (Discv4, Instant) {
    let now = Instant::now();
    let endpoint = Endpoint { ip: Some(addr(30301).ip()), udp: 30301, tcp: 30301 };
    let mut config = Discv4Config::new(key(1), endpoint, Some(mainnet()));
    config.limits = limits;
    config.bootnodes = bootnodes;
    (Discv4::new(config, now, UNIX), now)
}

fn drain(node: &mut Discv4) -> Vec<wire::Packet> {
    std::iter::from_fn(|| node.poll_transmit())
        .filter_map(|t| wire::decode(&t.packet).ok())
        .collect()
}

#[test]
fn a_flood_of_pings_from_new_keys_and_addresses_stays_bounded() {
    let limits = small_limits();
    let (mut node, start) = lone_node(limits.clone(), Vec::new());
    for i in 0..3_000u64 {
        let at = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 30303));
        let peer = Raw::new(1_000 + i, at);
        let now = start + Duration::from_millis(i);
        node.handle_packet(now, at, &peer.ping(addr(30301)));
        // The sender's datagrams are taken out now and then, as a socket would.
        if i % 100 == 0 {
            drain(&mut node);
            node.handle_timeout(now);
        }
        let stats = node.stats();
        assert!(stats.bonds <= limits.max_bonds, "{stats:?}");
        assert!(stats.pending <= limits.max_pending, "{stats:?}");
        assert!(stats.sources <= limits.max_sources, "{stats:?}");
        assert!(stats.transmits <= limits.max_transmits, "{stats:?}");
        assert_eq!(stats.table, 0, "nobody answered our pings: nobody is in the table");
    }
    assert!(!node.has_candidate());
}

#[test]
fn one_source_is_rate_limited() {
    let limits = Discv4Limits::default();
    let (mut node, now) = lone_node(limits.clone(), Vec::new());
    let peer = Raw::new(7, addr(40000));
    let ping = peer.ping(addr(30301));
    for _ in 0..1_000 {
        node.handle_packet(now, peer.at, &ping);
    }
    let pongs =
        drain(&mut node).iter().filter(|p| matches!(p.message, Message::Pong { .. })).count();
    assert_eq!(pongs, limits.source_burst as usize);
    assert_eq!(node.stats().rate_limited, 1_000 - limits.source_burst as u64);
    // A second later the source has its rate back, not its whole burst.
    let later = now + Duration::from_secs(1);
    for _ in 0..1_000 {
        node.handle_packet(later, peer.at, &ping);
    }
    let pongs =
        drain(&mut node).iter().filter(|p| matches!(p.message, Message::Pong { .. })).count();
    assert_eq!(pongs, limits.source_rate as usize);
}

/// A flood from one address behind a NAT leaves the other nodes at its IP their budget; many
/// addresses of one IP together are held to the IP's budget.
#[test]
fn a_noisy_address_does_not_silence_its_ip_but_an_ip_is_bounded() {
    let limits = Discv4Limits::default();
    let (mut node, now) = lone_node(limits.clone(), Vec::new());
    let at = |port| SocketAddr::from(([203, 0, 113, 7], port));
    let pongs = |node: &mut Discv4| {
        drain(node).iter().filter(|p| matches!(p.message, Message::Pong { .. })).count()
    };
    let noisy = Raw::new(7, at(40000));
    for _ in 0..1_000 {
        node.handle_packet(now, noisy.at, &noisy.ping(addr(30301)));
    }
    assert_eq!(pongs(&mut node), limits.source_burst as usize);
    let quiet = Raw::new(8, at(40001));
    node.handle_packet(now, quiet.at, &quiet.ping(addr(30301)));
    assert_eq!(pongs(&mut node), 1, "the other node behind the NAT is answered");
    // Addresses 40002.. of the same IP share what is left of the IP's burst.
    let mut answered = 0;
    for port in 40002..40102 {
        let peer = Raw::new(u64::from(port), at(port));
        for _ in 0..limits.source_burst as usize {
            node.handle_packet(now, peer.at, &peer.ping(addr(30301)));
        }
        answered += pongs(&mut node);
    }
    assert_eq!(answered, limits.ip_burst as usize - limits.source_burst as usize - 1);
}

#[test]
fn unsolicited_responses_and_oversized_packets_are_dropped() {
    let (mut node, now) = lone_node(small_limits(), Vec::new());
    let peer = Raw::new(7, addr(40000));
    let nodes: Vec<NodeRecord> = (0..12u8)
        .map(|i| NodeRecord {
            endpoint: Endpoint { ip: Some(addr(1).ip()), udp: 1000 + u16::from(i), tcp: 1 },
            id: B512::repeat_byte(i + 1),
        })
        .collect();
    let neighbours = peer.packet(&Message::Neighbours { nodes, expiration: UNIX + 60 });
    let pong = peer.packet(&Message::Pong {
        to: Endpoint { ip: None, udp: 0, tcp: 0 },
        ping_hash: Default::default(),
        expiration: UNIX + 60,
        enr_seq: None,
    });
    for i in 0..50 {
        let t = now + Duration::from_secs(i);
        node.handle_packet(t, peer.at, &neighbours);
        node.handle_packet(t, peer.at, &pong);
        node.handle_packet(t, peer.at, &vec![0u8; 2000]);
        node.handle_packet(t, peer.at, &[1, 2, 3]);
    }
    let stats = node.stats();
    assert_eq!(stats.unsolicited, 100, "{stats:?}");
    assert_eq!(stats.invalid, 100, "{stats:?}");
    assert_eq!((stats.verify_queue, stats.table, stats.bonds, stats.pending), (0, 0, 0, 0));
    assert!(drain(&mut node).is_empty(), "nothing answered");
}

#[test]
fn forged_endpoints_are_pinged_at_most_once_and_never_proposed() {
    // The attacker is our bootnode: it bonds properly, then answers FindNode with nodes at
    // addresses where nobody answers (a victim's) and at a public address relayed from
    // loopback... and with loopback nodes relayed from a public address.
    let attacker = Raw::new(9, addr(40000));
    let boot = Enode { id: attacker.id, addr: attacker.at };
    let (mut node, mut now) = lone_node(small_limits(), vec![boot]);
    let victim = SocketAddr::from(([127, 0, 0, 2], 30303));
    let forged: Vec<NodeRecord> = (0..16u8)
        .map(|i| NodeRecord {
            endpoint: Endpoint { ip: Some(victim.ip()), udp: victim.port(), tcp: victim.port() },
            id: crate::rlpx::node_id(&key(500 + u64::from(i)).public_key()),
        })
        .collect();
    let mut sent_to_victim = 0;
    for _ in 0..40 {
        let transmits: Vec<_> = std::iter::from_fn(|| node.poll_transmit()).collect();
        for transmit in transmits {
            if transmit.to == victim {
                sent_to_victim += 1;
                continue;
            }
            assert_eq!(transmit.to, attacker.at);
            let packet = wire::decode(&transmit.packet).unwrap();
            let reply = match packet.message {
                Message::Ping { .. } => {
                    let pong = attacker.packet(&Message::Pong {
                        to: Endpoint { ip: None, udp: 0, tcp: 0 },
                        ping_hash: packet.hash,
                        expiration: UNIX + 600,
                        enr_seq: None,
                    });
                    vec![pong, attacker.ping(addr(30301))]
                }
                Message::FindNode { .. } => [&forged[..12], &forged[12..]]
                    .iter()
                    .map(|nodes| {
                        attacker.packet(&Message::Neighbours {
                            nodes: nodes.to_vec(),
                            expiration: UNIX + 600,
                        })
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for bytes in reply {
                node.handle_packet(now, attacker.at, &bytes);
            }
        }
        now += Duration::from_millis(500);
        node.handle_timeout(now);
    }
    assert!(sent_to_victim > 0, "the forged nodes were checked");
    assert_eq!(sent_to_victim, 1, "one Ping per address, then a backoff");
    assert!(!node.has_candidate(), "neither the forged nodes nor the ENR-less attacker");
    let table: Vec<NodeId> = node.table().iter().map(|e| e.record.id).collect();
    assert_eq!(table, vec![attacker.id]);

    // Loopback addresses relayed by a public node are not even pinged.
    let (mut node, now) = lone_node(small_limits(), Vec::new());
    let public = Raw::new(10, SocketAddr::from(([8, 8, 8, 8], 30303)));
    node.handle_packet(now, public.at, &public.ping(addr(30301)));
    let ping =
        drain(&mut node).into_iter().find(|p| matches!(p.message, Message::Ping { .. })).unwrap();
    let pong = public.packet(&Message::Pong {
        to: Endpoint { ip: None, udp: 0, tcp: 0 },
        ping_hash: ping.hash,
        expiration: UNIX + 600,
        enr_seq: None,
    });
    node.handle_packet(now, public.at, &pong);
    assert_eq!(node.stats().table, 1);
    let neighbours = public
        .packet(&Message::Neighbours { nodes: forged[..12].to_vec(), expiration: UNIX + 600 });
    node.handle_packet(now, public.at, &neighbours);
    assert_eq!(node.stats().verify_queue, 0);
    assert!(drain(&mut node).iter().all(|p| !matches!(p.message, Message::Ping { .. })));
}

async fn wait_for_candidates(discovery: &mut Discovery, want: &HashSet<NodeId>) -> HashSet<NodeId> {
    let mut found = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !want.is_subset(&found) {
        match tokio::time::timeout_at(deadline, discovery.next_candidate()).await {
            Ok(Some(candidate)) => {
                found.insert(candidate.enode.id);
            }
            _ => break,
        }
    }
    found
}

fn service_config(seed: u64, bootnodes: Vec<Enode>) -> DiscoveryConfig {
    let mut config = DiscoveryConfig::new(key(seed), addr(0), 30303, Some(mainnet()));
    config.bootnodes = bootnodes;
    config.seed = Some(seed);
    config.timing.lookup_interval = Duration::from_millis(300);
    config.timing.findnode_delay = Duration::from_millis(50);
    config.timing.revalidate_interval = Duration::from_millis(500);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_find_each_other_over_loopback_despite_hostile_packets() {
    let boot_service = Discovery::spawn(service_config(1, Vec::new())).await.unwrap();
    let boot = Enode { id: boot_service.local_enode().id, addr: boot_service.local_udp() };
    // Hostile packets at the bootnode first: oversized, garbage, unsolicited neighbours.
    let hostile = tokio::net::UdpSocket::bind(addr(0)).await.unwrap();
    let raw = Raw::new(99, hostile.local_addr().unwrap());
    let nodes: Vec<NodeRecord> = (0..12u8)
        .map(|i| NodeRecord {
            endpoint: Endpoint { ip: Some(addr(1).ip()), udp: 9, tcp: 9 },
            id: B512::repeat_byte(i),
        })
        .collect();
    let neighbours = raw.packet(&Message::Neighbours { nodes, expiration: u64::MAX });
    for _ in 0..200 {
        hostile.send_to(&vec![0xffu8; 4000], boot.addr).await.unwrap();
        hostile.send_to(&[0u8; 100], boot.addr).await.unwrap();
        hostile.send_to(&neighbours, boot.addr).await.unwrap();
    }
    let mut services = vec![boot_service];
    for seed in 2..=4 {
        services.push(Discovery::spawn(service_config(seed, vec![boot])).await.unwrap());
    }
    let ids: Vec<NodeId> = services.iter().map(|s| s.local_enode().id).collect();
    for (i, service) in services.iter_mut().enumerate() {
        let want: HashSet<NodeId> = ids.iter().copied().filter(|id| *id != ids[i]).collect();
        let found = wait_for_candidates(service, &want).await;
        assert!(want.is_subset(&found), "node {i} found {} of {}", found.len(), want.len());
    }
    let stats = services[0].handle().stats().await.unwrap();
    // Loopback drops some of a burst of datagrams; those that arrived were refused.
    assert!(stats.invalid > 0 && stats.unsolicited + stats.rate_limited > 0, "{stats:?}");
    assert!(stats.bonds <= 4 && stats.verify_queue == 0, "{stats:?}");
}
