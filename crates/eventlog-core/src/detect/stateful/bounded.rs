//! A map with a hard size limit that forgets the least recently touched key first, so
//! an attacker rotating IPs or usernames costs the detectors a fixed amount of memory.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// A map of at most `capacity` entries; inserting beyond that evicts the entry touched
/// longest ago. Lookups through [`BoundedMap::entry`] count as touches.
#[derive(Debug)]
pub(super) struct BoundedMap<K, V> {
    capacity: usize,
    entries: HashMap<K, (V, u64)>,
    by_age: BTreeMap<u64, K>,
    clock: u64,
    evicted: u64,
}

impl<K: Hash + Eq + Clone, V> BoundedMap<K, V> {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            by_age: BTreeMap::new(),
            clock: 0,
            evicted: 0,
        }
    }

    /// The value for `key`, created by `make` if absent; marks it most recently used.
    pub(super) fn entry(&mut self, key: &K, make: impl FnOnce() -> V) -> &mut V {
        self.clock += 1;
        let now = self.clock;
        if let Some((_, stamp)) = self.entries.get_mut(key) {
            self.by_age.remove(stamp);
            *stamp = now;
            self.by_age.insert(now, key.clone());
        } else {
            if self.entries.len() >= self.capacity {
                if let Some((_, oldest)) = self.by_age.pop_first() {
                    self.entries.remove(&oldest);
                    self.evicted += 1;
                }
            }
            self.entries.insert(key.clone(), (make(), now));
            self.by_age.insert(now, key.clone());
        }
        &mut self.entries.get_mut(key).expect("inserted above").0
    }

    /// Number of keys held.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Keys forgotten to stay within capacity, since creation.
    pub(super) fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_holds_more_than_capacity_and_forgets_the_oldest() {
        let mut map = BoundedMap::new(3);
        for k in 0..3 {
            *map.entry(&k, || 0) += 1;
        }
        *map.entry(&0, || 0) += 1; // 0 is now the most recent; 1 the oldest
        map.entry(&3, || 0);
        assert_eq!(map.len(), 3);
        assert_eq!(map.evicted(), 1);
        assert_eq!(*map.entry(&0, || 0), 2, "recently used key kept");
        assert_eq!(*map.entry(&1, || 7), 7, "oldest key was forgotten");
        for k in 0..100_000 {
            map.entry(&(k + 10), || 0);
        }
        assert_eq!(map.len(), 3);
    }
}
