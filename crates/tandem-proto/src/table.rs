//! [`Table`]: the small ordered map a client keeps its rooms and operations in.

use std::borrow::Borrow;

/// An ordered map for the few entries a client keeps: its rooms by name, its operations in
/// flight by id. Entries sit sorted in one `Vec` and are found by binary search. Ids grow,
/// so a new operation goes at the back. A removed entry leaves its key behind with no
/// value, so taking the oldest out moves nothing; the vector drops these holes once they
/// outnumber the entries. Iteration is in key order, so what a client reports about several
/// entries at once comes in a stable order.
///
/// It exists for the browser: a `BTreeMap` and a `HashMap` cost the npm package's wasm
/// about 19 KB of code, and a `VecDeque` 1.5 KB per table; this costs the code of `Vec`.
#[derive(Debug, Clone)]
pub(crate) struct Table<K, V> {
    /// Sorted by key; `None` is a removed entry.
    slots: Vec<(K, Option<V>)>,
    /// How many slots hold a value.
    len: usize,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl<K: Ord, V> Table<K, V> {
    /// An empty table.
    pub fn new() -> Self {
        Table::default()
    }

    /// The slot of `key`, or where it would go.
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        // Most lookups are for the newest entry: try the back first.
        match self.slots.last() {
            Some((last, _)) if last.borrow() < key => Err(self.slots.len()),
            _ => self.slots.binary_search_by(|(k, _)| k.borrow().cmp(key)),
        }
    }

    fn slot<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut Option<V>>
    where
        K: Borrow<Q>,
    {
        let i = self.find(key).ok()?;
        self.slots.get_mut(i).map(|(_, v)| v)
    }

    /// The value under `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        let i = self.find(key).ok()?;
        self.slots.get(i)?.1.as_ref()
    }

    /// The value under `key`, to change it.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.slot(key)?.as_mut()
    }

    /// Whether there is a value under `key`.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.get(key).is_some()
    }

    /// Puts `value` under `key`, giving back the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => {
                let old = self.slots.get_mut(i)?.1.replace(value);
                if old.is_none() {
                    self.len += 1;
                }
                old
            }
            Err(i) => {
                self.slots.insert(i, (key, Some(value)));
                self.len += 1;
                None
            }
        }
    }

    /// Takes the value under `key` out.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let old = self.slot(key)?.take()?;
        self.len -= 1;
        if self.slots.len() > 2 * self.len + 8 {
            self.slots.retain(|(_, v)| v.is_some());
        }
        Some(old)
    }

    /// The keys and values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// The values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// The values, in key order, to change them.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().filter_map(|(_, v)| v.as_mut())
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.slots
            .retain_mut(|(k, v)| v.as_mut().is_some_and(|v| keep(k, v)));
        self.len = self.slots.len();
    }

    /// Takes every entry out, in key order.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        self.len = 0;
        self.slots.drain(..).filter_map(|(k, v)| v.map(|v| (k, v)))
    }

    /// How many entries there are (only the tests ask).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none (only the tests ask).
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn behaves_as_a_btree_map(ops in proptest::collection::vec((0u8..5, 0u16..64, 0u32..9), 0..200)) {
            let mut table = Table::new();
            let mut model = std::collections::BTreeMap::new();
            for (op, key, value) in ops {
                match op {
                    4 => {
                        table.retain(|k, v| (k + *v as u16) % 3 != 0);
                        model.retain(|k, v| (k + *v as u16) % 3 != 0);
                    }
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
            proptest::prop_assert!(table.drain().eq(model.into_iter()));
            proptest::prop_assert!(table.is_empty());
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
