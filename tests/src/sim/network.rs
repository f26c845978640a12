//! The simulated network and event queue: every event is delivered at a virtual time, ties
//! broken by a sequence number, so a run is a pure function of its seed.

use std::{collections::BTreeMap, time::Duration};

use snap_core::sync::WriteBatch;

use super::rng::SimRng;

/// Latency, jitter, bandwidth and loss of every link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetConfig {
    /// One-way latency.
    pub latency: Duration,
    /// Up to this much is added to the latency, uniformly.
    pub jitter: Duration,
    /// Bytes per second of each link; `0` is unlimited.
    pub bandwidth: u64,
    /// Probability that a message is lost.
    pub loss: f64,
}

impl NetConfig {
    /// A link without delay, limit or loss.
    pub const INSTANT: Self =
        Self { latency: Duration::ZERO, jitter: Duration::ZERO, bandwidth: 0, loss: 0.0 };

    /// How long a message of `len` bytes takes, or `None` when it is lost.
    pub fn transit(&self, len: usize, rng: &mut SimRng) -> Option<Duration> {
        if rng.chance(self.loss) {
            return None;
        }
        let jitter = Duration::from_nanos(rng.below(self.jitter.as_nanos() as u64 + 1));
        let transfer = if self.bandwidth == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos((len as u128 * 1_000_000_000 / u128::from(self.bandwidth)) as u64)
        };
        Some(self.latency + jitter + transfer)
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            bandwidth: 10 * 1024 * 1024,
            loss: 0.0,
        }
    }
}

/// Something that happens at a virtual time.
#[derive(Debug)]
pub enum Event {
    /// A request reaches a peer over connection `conn`.
    ToPeer {
        /// The peer's index.
        peer: usize,
        /// The connection it was sent on.
        conn: u64,
        /// The message id.
        id: u8,
        /// The encoded message.
        bytes: Vec<u8>,
    },
    /// A peer's message reaches the host.
    ToHost {
        /// The peer's index.
        peer: usize,
        /// The connection it was sent on.
        conn: u64,
        /// The message id.
        id: u8,
        /// The bytes as sent.
        bytes: Vec<u8>,
    },
    /// The store answers a lookup of the syncer's.
    Lookup {
        /// The lookup's id.
        id: snap_core::sync::LookupId,
        /// The question.
        lookup: snap_core::sync::Lookup,
    },
    /// The peer dropped connection `conn`.
    PeerGone {
        /// The peer's index.
        peer: usize,
        /// The connection.
        conn: u64,
    },
    /// The peer (re)connects.
    Connect {
        /// The peer's index.
        peer: usize,
    },
    /// The store applies a batch and acknowledges it.
    Apply(Box<WriteBatch>),
}

impl Event {
    /// Bytes the event holds, for memory accounting.
    pub fn held_bytes(&self) -> usize {
        match self {
            Self::ToPeer { bytes, .. } | Self::ToHost { bytes, .. } => bytes.len(),
            Self::Apply(batch) => batch.estimated_bytes(),
            Self::Lookup { lookup: snap_core::sync::Lookup::Codes(codes), .. } => codes.len() * 32,
            Self::Lookup { lookup: snap_core::sync::Lookup::Nodes(nodes), .. } => nodes.len() * 80,
            Self::Lookup { .. } => 0,
            Self::PeerGone { .. } | Self::Connect { .. } => 0,
        }
    }
}

/// Events by (delivery time, sequence number).
#[derive(Debug, Default)]
pub struct EventQueue {
    events: BTreeMap<(Duration, u64), Event>,
    sequence: u64,
}

impl EventQueue {
    /// Schedules `event` at `at`.
    pub fn push(&mut self, at: Duration, event: Event) {
        self.sequence += 1;
        self.events.insert((at, self.sequence), event);
    }

    /// The time of the next event.
    pub fn next_time(&self) -> Option<Duration> {
        self.events.keys().next().map(|(at, _)| *at)
    }

    /// Takes the next event.
    pub fn pop(&mut self) -> Option<(Duration, Event)> {
        self.events.pop_first().map(|((at, _), event)| (at, event))
    }

    /// Drops every event (a crash of the host).
    pub fn clear(&mut self) {
        self.events.clear();
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Bytes held by the pending events.
    pub fn held_bytes(&self) -> usize {
        self.events.values().map(Event::held_bytes).sum()
    }

    /// Store batches waiting to be applied.
    pub fn pending_batches(&self) -> usize {
        self.events.values().filter(|event| matches!(event, Event::Apply(_))).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_by_time_then_insertion_order() {
        let mut queue = EventQueue::default();
        queue.push(Duration::from_millis(5), Event::Connect { peer: 1 });
        queue.push(Duration::from_millis(1), Event::Connect { peer: 2 });
        queue.push(Duration::from_millis(5), Event::Connect { peer: 3 });
        let order: Vec<usize> = std::iter::from_fn(|| queue.pop())
            .map(|(_, event)| match event {
                Event::Connect { peer } => peer,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, vec![2, 1, 3]);
    }

    #[test]
    fn transit_adds_latency_jitter_and_transfer_time() {
        let net = NetConfig {
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(4),
            bandwidth: 1000,
            loss: 0.0,
        };
        let mut rng = SimRng::new(1);
        for _ in 0..100 {
            let t = net.transit(500, &mut rng).unwrap();
            assert!(t >= Duration::from_millis(510) && t <= Duration::from_millis(514));
        }
        let lossy = NetConfig { loss: 1.0, ..net };
        assert_eq!(lossy.transit(1, &mut rng), None);
    }
}
