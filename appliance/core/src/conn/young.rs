//! The FIFO of young entries, the eviction order of a full table: every new entry joins it
//! (links in the entry, like the timer's); an entry leaves it when it goes, or when
//! [`ConnTable::find_embryonic`] takes it from the front and finds it grew up (proved a live
//! peer, [`super::entry::Conn::is_embryonic`]) — lazily, so no packet pays for the queue. IPVS's `drop_entry`
//! looks at random buckets instead: the queue finds a victim in O(1) whatever the table's layout,
//! and the newest handshakes are the last to go.

use super::entry::{NIL, OFF_QUEUE};
use super::table::ConnTable;
use crate::family::AddrKey;

impl<K: AddrKey> ConnTable<K> {
    /// The oldest embryonic entry ([`super::entry::Conn::is_embryonic`]) to evict, taking at most `budget`
    /// entries off the front of the young FIFO (those that grew up leave it for good). `None`
    /// when none was found within the budget.
    pub fn find_embryonic(&mut self, budget: usize) -> Option<u32> {
        for _ in 0..budget {
            let i = self.young_head;
            if i == NIL {
                return None;
            }
            self.young_unlink(i);
            if self.entries[i as usize].is_embryonic() {
                return Some(i);
            }
        }
        None
    }

    pub(super) fn young_push(&mut self, idx: u32) {
        let e = &mut self.entries[idx as usize];
        (e.young_prev, e.young_next) = (self.young_tail, NIL);
        match self.young_tail {
            NIL => self.young_head = idx,
            t => self.entries[t as usize].young_next = idx,
        }
        self.young_tail = idx;
    }

    pub(super) fn young_unlink(&mut self, idx: u32) {
        let (prev, next) = (self.entries[idx as usize].young_prev, self.entries[idx as usize].young_next);
        if prev == OFF_QUEUE {
            return;
        }
        match prev {
            NIL => self.young_head = next,
            p => self.entries[p as usize].young_next = next,
        }
        match next {
            NIL => self.young_tail = prev,
            n => self.entries[n as usize].young_prev = prev,
        }
        self.entries[idx as usize].young_prev = OFF_QUEUE;
    }
}
