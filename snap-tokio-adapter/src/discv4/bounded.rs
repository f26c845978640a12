//! Small bounded containers: what discovery keeps per remote node or address never grows
//! past a fixed count, whoever sends packets.

use std::{
    collections::{HashMap, VecDeque},
    hash::Hash,
};

/// A map of at most `capacity` entries; inserting a new key into a full map evicts the key
/// least recently inserted or refreshed.
#[derive(Clone, Debug)]
pub struct BoundedMap<K, V> {
    capacity: usize,
    entries: HashMap<K, (V, u64)>,
    order: VecDeque<(K, u64)>,
    stamp: u64,
}

impl<K: Clone + Eq + Hash, V> BoundedMap<K, V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
            stamp: 0,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(value, _)| value)
    }

    /// The value of `key`, mutable (does not refresh its place).
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key).map(|(value, _)| value)
    }

    /// Whether `key` is held.
    pub fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|(value, _)| value)
    }

    /// The value of `key`, inserted with `make` if absent (evicting the oldest entry when
    /// full); either way the key becomes the most recent.
    pub fn entry_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        self.stamp += 1;
        let stamp = self.stamp;
        if !self.entries.contains_key(&key) {
            while self.entries.len() >= self.capacity {
                let Some((old, old_stamp)) = self.order.pop_front() else { break };
                if self.entries.get(&old).is_some_and(|(_, s)| *s == old_stamp) {
                    self.entries.remove(&old);
                }
            }
            self.entries.insert(key.clone(), (make(), stamp));
        }
        self.order.push_back((key.clone(), stamp));
        self.compact();
        let slot = self.entries.get_mut(&key).expect("just inserted");
        slot.1 = stamp;
        &mut slot.0
    }

    /// Inserts or replaces `key`'s value, making it the most recent.
    pub fn insert(&mut self, key: K, value: V) {
        let mut fresh = Some(value);
        let slot = self.entry_or_insert_with(key, || fresh.take().expect("taken once"));
        if let Some(value) = fresh {
            *slot = value;
        }
    }

    /// Drops stale order records once they outnumber the entries twice over.
    fn compact(&mut self) {
        if self.order.len() <= 2 * self.capacity {
            return;
        }
        let entries = &self.entries;
        self.order.retain(|(key, stamp)| entries.get(key).is_some_and(|(_, s)| s == stamp));
    }

    /// Keeps only the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain(|key, (value, _)| keep(key, value));
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(key, (value, _))| (key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recent_and_stays_bounded() {
        let mut map = BoundedMap::new(3);
        for key in 0..3 {
            *map.entry_or_insert_with(key, || 0) += key;
        }
        // Refresh 0: 1 is now the oldest.
        map.entry_or_insert_with(0, || 0);
        map.entry_or_insert_with(3, || 3);
        assert!(map.contains(&0) && !map.contains(&1) && map.contains(&2) && map.contains(&3));
        for key in 0..10_000 {
            map.entry_or_insert_with(key % 7, || key);
            assert!(map.len() <= 3);
            assert!(map.order.len() <= 2 * 3 + 1);
        }
    }
}
