//! [`Fifo`]: the first-in first-out queue a client's session and driver keep their
//! outputs in.

/// A first-in first-out queue made of two `Vec`s: items are pushed onto one and popped off
/// the other, which is refilled (reversed) from the first when it runs dry. Each item moves
/// once, so pushing and popping cost O(1) amortized.
///
/// It exists for the browser: a `VecDeque` costs the npm package's wasm about 1.5 KB of
/// code for every item type it holds; this costs a few hundred bytes, the code of `Vec`.
#[derive(Debug, Clone)]
pub(crate) struct Fifo<T> {
    /// Items pushed since the last refill, oldest first.
    back: Vec<T>,
    /// Items to pop, newest first: the next one is at the end.
    front: Vec<T>,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo {
            back: Vec::new(),
            front: Vec::new(),
        }
    }
}

impl<T> Fifo<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Fifo::default()
    }

    /// Adds `item` at the back.
    pub fn push_back(&mut self, item: T) {
        self.back.push(item);
    }

    /// Takes the item at the front out.
    pub fn pop_front(&mut self) -> Option<T> {
        if self.front.is_empty() {
            std::mem::swap(&mut self.front, &mut self.back);
            self.front.reverse();
        }
        self.front.pop()
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.front.len() + self.back.len()
    }

    /// Whether there are none (only the tests ask).
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.front.is_empty() && self.back.is_empty()
    }

    /// The items, front first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.front.iter().rev().chain(self.back.iter())
    }

    /// Takes every item out, front first.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.front.drain(..).rev().chain(self.back.drain(..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn behaves_as_a_vec_deque(ops in proptest::collection::vec(0u8..5, 0..300)) {
            let mut fifo = Fifo::new();
            let mut model = std::collections::VecDeque::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    0 | 1 => {
                        fifo.push_back(n);
                        model.push_back(n);
                    }
                    2 | 3 => proptest::prop_assert_eq!(fifo.pop_front(), model.pop_front()),
                    _ => proptest::prop_assert!(fifo.drain().eq(model.drain(..))),
                }
                proptest::prop_assert!(fifo.iter().eq(model.iter()));
                proptest::prop_assert_eq!(fifo.len(), model.len());
                proptest::prop_assert_eq!(fifo.is_empty(), model.is_empty());
            }
        }
    }
}
