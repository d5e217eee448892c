//! A bounded memory of documents' languages across calls, for the stream command: a
//! feed's micro-batches cut documents apart, and a headline that arrives after its
//! document's first paragraphs should still get the document's language as a prior, as
//! it does when a whole file is read at once.
//!
//! Least-recently-used eviction over a fixed number of documents, so a feed of endless
//! distinct `doc` values holds at most `capacity` entries.

use super::DocumentWeights;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug)]
pub struct DocLanguageMemory {
    capacity: usize,
    /// doc -> (what is known, last use)
    entries: HashMap<String, (DocumentWeights, u64)>,
    /// last use -> doc, oldest first: the eviction order.
    by_use: BTreeMap<u64, String>,
    clock: u64,
}

impl DocLanguageMemory {
    pub fn new(capacity: usize) -> Self {
        DocLanguageMemory {
            capacity,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What is known of `doc` so far (nothing for a document not seen or forgotten).
    pub fn get(&self, doc: &str) -> DocumentWeights {
        self.entries.get(doc).map(|e| e.0).unwrap_or_default()
    }

    /// Adds a call's evidence for `doc`, marking it most recently used; forgets the least
    /// recently used document when over capacity.
    pub fn add(&mut self, doc: &str, weights: DocumentWeights) {
        if self.capacity == 0 {
            return;
        }
        self.clock += 1;
        let now = self.clock;
        match self.entries.get_mut(doc) {
            Some((known, used)) => {
                *known = known.plus(weights);
                self.by_use.remove(used);
                *used = now;
            }
            None => {
                self.entries.insert(doc.to_string(), (weights, now));
            }
        }
        self.by_use.insert(now, doc.to_string());
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(chars: usize) -> DocumentWeights {
        DocumentWeights::from_counts([chars, 0, 0])
    }

    #[test]
    fn accumulates_per_document() {
        let mut m = DocLanguageMemory::new(4);
        m.add("a", sv(60));
        assert_eq!(m.get("a").language(), None, "60 characters are not enough");
        m.add("a", sv(60));
        assert_eq!(m.get("a").language(), Some("sv"));
        assert!(m.get("b").is_empty());
    }

    #[test]
    fn forgets_the_least_recently_used_beyond_capacity() {
        let mut m = DocLanguageMemory::new(2);
        m.add("a", sv(200));
        m.add("b", sv(200));
        m.add("a", sv(1)); // a is now the most recent
        m.add("c", sv(200));
        assert_eq!(m.len(), 2);
        assert!(m.get("b").is_empty(), "b was the least recently used");
        assert_eq!(m.get("a").language(), Some("sv"));
        assert_eq!(m.get("c").language(), Some("sv"));
        for i in 0..1000 {
            m.add(&format!("d{i}"), sv(10));
        }
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn zero_capacity_remembers_nothing() {
        let mut m = DocLanguageMemory::new(0);
        m.add("a", sv(500));
        assert!(m.is_empty());
    }
}
