//! [`Table`]: the small ordered map a client keeps its rooms and operations in.

use std::borrow::Borrow;
use std::collections::VecDeque;

/// An ordered map for the few entries a client keeps: its rooms by name, its operations in
/// flight by id. Entries sit sorted in one ring buffer and are found by binary search.
/// Ids grow, so a new operation goes at the back and the oldest answered leaves from the
/// front, both without moving the others. Iteration is in key order, so what a client
/// reports about several entries at once comes in a stable order.
///
/// It exists for the browser: a `BTreeMap` and a `HashMap` cost the npm package's wasm
/// about 19 KB of code; this costs a tenth of that.
#[derive(Debug, Clone)]
pub struct Table<K, V> {
    entries: VecDeque<(K, V)>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            entries: VecDeque::new(),
        }
    }
}

impl<K: Ord, V> Table<K, V> {
    /// An empty table.
    pub fn new() -> Self {
        Table::default()
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        // Most lookups are for the newest entry: try the back first.
        match self.entries.back() {
            Some((last, _)) if last.borrow() < key => Err(self.entries.len()),
            _ => self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key)),
        }
    }

    /// The value under `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        let i = self.find(key).ok()?;
        self.entries.get(i).map(|(_, v)| v)
    }

    /// The value under `key`, to change it.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        let i = self.find(key).ok()?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    /// Whether there is a value under `key`.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Puts `value` under `key`, giving back the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => self
                .entries
                .get_mut(i)
                .map(|(_, v)| std::mem::replace(v, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Takes the value under `key` out.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let i = self.find(key).ok()?;
        self.entries.remove(i).map(|(_, v)| v)
    }

    /// The keys and values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values, in key order, to change them.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// Takes every entry out, in key order.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        self.entries.drain(..)
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K, V> IntoIterator for Table<K, V> {
    type Item = (K, V);
    type IntoIter = std::collections::vec_deque::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn behaves_as_a_btree_map(ops in proptest::collection::vec((0u8..4, 0u16..64, 0u32..9), 0..200)) {
            let mut table = Table::new();
            let mut model = std::collections::BTreeMap::new();
            for (op, key, value) in ops {
                match op {
                    0 | 1 => proptest::prop_assert_eq!(table.insert(key, value), model.insert(key, value)),
                    2 => proptest::prop_assert_eq!(table.remove(&key), model.remove(&key)),
                    _ => {
                        if let Some(v) = table.get_mut(&key) {
                            *v += 1;
                        }
                        if let Some(v) = model.get_mut(&key) {
                            *v += 1;
                        }
                    }
                }
                proptest::prop_assert_eq!(table.get(&key), model.get(&key));
                proptest::prop_assert_eq!(table.contains_key(&key), model.contains_key(&key));
                proptest::prop_assert!(table.iter().eq(model.iter()));
                proptest::prop_assert_eq!(table.len(), model.len());
            }
            proptest::prop_assert!(table.into_iter().eq(model.into_iter()));
        }
    }

    #[test]
    fn string_keys_are_found_by_str() {
        let mut rooms = Table::new();
        rooms.insert("b".to_owned(), 2);
        rooms.insert("a".to_owned(), 1);
        assert_eq!(rooms.get("a"), Some(&1));
        assert_eq!(rooms.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(rooms.drain().count(), 2);
        assert!(rooms.is_empty());
    }
}
