//! Scratch space: a module's small key-value state, kept by the host across restarts and
//! swaps (not across kernel restarts), bounded in bytes of keys and values.

use std::collections::BTreeMap;

/// One module's scratch space.
#[derive(Debug)]
pub(crate) struct Scratch {
    entries: BTreeMap<String, Vec<u8>>,
    used: usize,
    limit: usize,
}

impl Scratch {
    /// Empty, holding at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Scratch {
        Scratch {
            entries: BTreeMap::new(),
            used: 0,
            limit,
        }
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries.get(key).cloned()
    }

    /// Sets `key`, unless that takes the space beyond its limit.
    pub(crate) fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        let old = self.entries.get(&key).map_or(0, |v| key.len() + v.len());
        let used = self.used - old + key.len() + value.len();
        if used > self.limit {
            return Err(format!(
                "scratch space full: {} of {} bytes in use, this write needs {}",
                self.used,
                self.limit,
                key.len() + value.len()
            ));
        }
        self.used = used;
        self.entries.insert(key, value);
        Ok(())
    }

    /// Removes `key`.
    pub(crate) fn remove(&mut self, key: &str) {
        if let Some(value) = self.entries.remove(key) {
            self.used -= key.len() + value.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_is_counted_in_keys_and_values() {
        let mut s = Scratch::new(10);
        s.set("ab".into(), vec![1; 6]).unwrap(); // 8
        assert!(s.set("c".into(), vec![1; 2]).is_err()); // 11
        s.set("ab".into(), vec![1; 2]).unwrap(); // replaced: 4
        s.set("c".into(), vec![1; 5]).unwrap(); // 10
        assert_eq!(s.get("ab"), Some(vec![1; 2]));
        s.remove("ab");
        s.set("d".into(), vec![1; 3]).unwrap(); // 10
        assert_eq!(s.get("ab"), None);
    }
}
