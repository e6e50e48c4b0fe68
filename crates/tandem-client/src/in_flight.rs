//! [`InFlight`]: the operations a driver waits on, by id.

use tandem_proto::Id;

/// Values by operation id, in one `Vec` sorted by id. Ids grow, so a new operation goes at
/// the back, and an answer finds its operation by binary search. Few operations wait at
/// once (the offline queue holds 1,000 by default), so moving the rest down on removal
/// costs little, and a `Vec` costs the npm package's wasm the least code: a `BTreeMap` or
/// `HashMap` costs kilobytes.
pub(crate) struct InFlight<T> {
    items: Vec<(Id, T)>,
}

impl<T> InFlight<T> {
    /// None waiting.
    pub fn new() -> Self {
        InFlight { items: Vec::new() }
    }

    /// Waits on `id` with `value`, replacing what waited on it before.
    pub fn insert(&mut self, id: Id, value: T) {
        // Most ids are new and the largest yet: try the back first.
        if self.items.last().is_none_or(|(last, _)| *last < id) {
            self.items.push((id, value));
            return;
        }
        match self.items.binary_search_by_key(&id, |(k, _)| *k) {
            Ok(i) => {
                if let Some(slot) = self.items.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.items.insert(i, (id, value)),
        }
    }

    /// Takes what waits on `id` out.
    pub fn remove(&mut self, id: &Id) -> Option<T> {
        let i = self.items.binary_search_by_key(id, |(k, _)| *k).ok()?;
        Some(self.items.remove(i).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map_by_id() {
        let mut waiting = InFlight::new();
        let mut model = std::collections::BTreeMap::new();
        // Mostly growing ids, some out of order and repeated, removals in any order.
        for (n, id) in [5u64, 6, 9, 7, 7, 12, 1, 20].into_iter().enumerate() {
            waiting.insert(id, n);
            model.insert(id, n);
        }
        for id in [7u64, 3, 1, 20, 20, 5, 9, 6, 12, 8] {
            assert_eq!(waiting.remove(&id), model.remove(&id), "id {id}");
        }
        assert!(waiting.items.is_empty());
    }
}
