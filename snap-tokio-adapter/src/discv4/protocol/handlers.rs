//! The answers to our requests and the requests of others: Ping, Pong, FindNode,
//! Neighbours, ENRResponse (ENRRequest is answered in place).

use super::*;

impl Discv4 {
    pub(super) fn on_ping(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        hash: B256,
        tcp: u16,
        enr_seq: Option<u64>,
    ) {
        let to = Endpoint { ip: Some(from.ip()), udp: from.port(), tcp };
        let pong = Message::Pong {
            to,
            ping_hash: hash,
            expiration: self.expiration(now),
            enr_seq: Some(self.enr.seq()),
        };
        self.send(from, &pong);
        let bond = self.bond_at(id, from, tcp);
        bond.tcp = tcp;
        bond.last_ping = Some(now);
        if enr_seq.is_some() {
            bond.enr_seq = enr_seq;
        }
        if self.verified(&id, from, now) {
            self.table.insert(NodeRecord { endpoint: to, id }, now);
            self.after_verified(now, id);
        } else {
            self.ping(now, id, from, tcp, AfterPong::Nothing);
        }
        // A FindNode waiting for this node to know us can go now.
        let (due, waiting): (Vec<_>, Vec<_>) =
            self.delayed.drain(..).partition(|d| d.1 == id && d.2 == from);
        self.delayed = waiting;
        for (_, id, addr, action) in due {
            self.run_delayed(now, id, addr, action);
        }
    }

    pub(super) fn on_pong(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        ping_hash: B256,
        enr_seq: Option<u64>,
    ) {
        let position = self.pending.iter().position(|p| {
            p.id == id
                && p.addr == from
                && matches!(p.kind, PendingKind::Ping { hash, .. } if hash == ping_hash)
        });
        let Some(position) = position else {
            self.stats.unsolicited += 1;
            return;
        };
        let pending = self.pending.swap_remove(position);
        let PendingKind::Ping { tcp, then, .. } = pending.kind else { return };
        let bond = self.bond_at(id, from, tcp);
        bond.last_pong = Some(now);
        if enr_seq.is_some() {
            bond.enr_seq = enr_seq;
        }
        let record =
            NodeRecord { endpoint: Endpoint { ip: Some(from.ip()), udp: from.port(), tcp }, id };
        self.table.insert(record, now);
        if let AfterPong::FindNode(lookup) = then {
            if self.knows_us(&id, from, now) {
                if !self.find_node(now, id, from, lookup) {
                    self.lookup_request_done(lookup);
                }
            } else {
                self.delayed.push((
                    now + self.timing.findnode_delay,
                    id,
                    from,
                    Delayed::FindNode(lookup),
                ));
            }
        }
        if self.knows_us(&id, from, now) {
            self.after_verified(now, id);
        } else if !self.delayed.iter().any(|d| d.1 == id && d.3 == Delayed::Enr) {
            self.delayed.push((now + self.timing.findnode_delay, id, from, Delayed::Enr));
        }
    }

    pub(super) fn on_find_node(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        target: B512,
    ) {
        if !self.verified(&id, from, now) {
            self.stats.unsolicited += 1;
            return;
        }
        let closest = self.table.closest(&keccak256(target), BUCKET_SIZE);
        let expiration = self.expiration(now);
        let mut chunks = closest.chunks(MAX_NEIGHBOURS_PER_PACKET).peekable();
        if chunks.peek().is_none() {
            self.send(from, &Message::Neighbours { nodes: Vec::new(), expiration });
        }
        for chunk in chunks {
            self.send(from, &Message::Neighbours { nodes: chunk.to_vec(), expiration });
        }
    }

    pub(super) fn on_neighbours(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        nodes: Vec<NodeRecord>,
    ) {
        let position = self.pending.iter().position(|p| {
            p.id == id && p.addr == from && matches!(p.kind, PendingKind::FindNode { .. })
        });
        let Some(position) = position else {
            self.stats.unsolicited += 1;
            return;
        };
        let PendingKind::FindNode { lookup, nodes: received } = self.pending[position].kind else {
            return;
        };
        let take = BUCKET_SIZE.saturating_sub(received).min(nodes.len());
        let total = received + take;
        if total >= BUCKET_SIZE {
            self.pending.swap_remove(position);
            self.lookup_request_done(lookup);
        } else {
            self.pending[position].kind = PendingKind::FindNode { lookup, nodes: total };
        }
        for node in nodes.into_iter().take(take) {
            let Some(ip) = node.endpoint.ip else { continue };
            if node.id == self.local_id || node.endpoint.udp == 0 || !relay_allowed(&from.ip(), &ip)
            {
                continue;
            }
            if let Some((_, l)) = self.lookups.iter_mut().find(|(l, _)| *l == lookup) {
                l.offer(node);
            }
            let addr = SocketAddr::new(ip, node.endpoint.udp);
            let queued = self.verify_queue.iter().any(|q| q.id == node.id);
            if !queued
                && !self.verified(&node.id, addr, now)
                && self.verify_queue.len() < self.limits.max_verify_queue
            {
                self.verify_queue.push_back(node);
            }
        }
    }

    pub(super) fn on_enr(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        request_hash: B256,
        enr: &Enr,
    ) {
        let position = self.pending.iter().position(|p| {
            p.id == id
                && p.addr == from
                && matches!(p.kind, PendingKind::Enr { hash } if hash == request_hash)
        });
        let Some(position) = position else {
            self.stats.unsolicited += 1;
            return;
        };
        self.pending.swap_remove(position);
        if wire::enr_node_id(enr) != id {
            self.stats.invalid += 1;
            return;
        }
        let fork_id = enr_fork_id(enr);
        let tcp = if from.is_ipv4() { enr.tcp4() } else { enr.tcp6().or(enr.tcp4()) };
        if let Some(bond) = self.bonds.get_mut(&id) {
            bond.enr = EnrState::Known { seq: enr.seq(), fork_id, tcp };
            bond.enr_attempts = 0;
        }
        self.consider_candidate(now, id);
    }
}
