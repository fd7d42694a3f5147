//! The connection table's timer wheel: hashed, one-second slots, each a doubly-linked list
//! through the entries' timer links. A packet that *extends* a connection's life only rewrites
//! `expires`; the entry stays in its older (earlier) slot and is refiled when that slot comes due.
//! A change that *shortens* it (FIN, RST) refiles it at once. So a slot's due time is never
//! later than its entries' expiry, and expiry walks only slots that are due, in budgeted slices.

use super::entry::{Conn, FREE, NIL};
use super::table::ConnTable;
use crate::family::AddrKey;

/// Timer wheel slots (seconds); timeouts beyond it cycle through until due.
pub(super) const WHEEL_SLOTS: u32 = 4096;
/// `timer_prev` of the first entry of wheel slot `s` is `SLOT_HEAD + s`.
pub(super) const SLOT_HEAD: u32 = FREE - WHEEL_SLOTS;

impl<K: AddrKey> ConnTable<K> {
    /// Sets a new expiry. Extending is free (lazy); shortening refiles the timer now.
    #[inline]
    pub fn set_expires(&mut self, idx: u32, expires: u32) {
        let old = self.entries[idx as usize].expires;
        self.entries[idx as usize].expires = expires;
        if expires < old {
            self.timer_unlink(idx);
            self.timer_link(idx);
        }
    }

    /// Refiles `idx`'s timer after its `expires` was made shorter through [`ConnTable::get_mut`]
    /// (the caller saw it shrink): the slot it sits in may now come due too late.
    #[inline]
    pub fn refile(&mut self, idx: u32) {
        self.timer_unlink(idx);
        self.timer_link(idx);
    }

    pub(super) fn timer_link(&mut self, idx: u32) {
        // A second already walked is filed in the next one to walk, never behind the hand.
        let due = self.entries[idx as usize].expires.max(self.wheel_done.wrapping_add(1));
        let slot = due & self.wheel_mask;
        let head = self.wheel[slot as usize];
        let e = &mut self.entries[idx as usize];
        e.timer_prev = SLOT_HEAD + slot;
        e.timer_next = head;
        if head != NIL {
            self.entries[head as usize].timer_prev = idx;
        }
        self.wheel[slot as usize] = idx;
    }

    pub(super) fn timer_unlink(&mut self, idx: u32) {
        let (p, n) = (self.entries[idx as usize].timer_prev, self.entries[idx as usize].timer_next);
        if p >= SLOT_HEAD {
            let slot = (p - SLOT_HEAD) as usize;
            if self.wheel[slot] == idx {
                self.wheel[slot] = n;
            }
        } else {
            self.entries[p as usize].timer_next = n;
        }
        if n != NIL {
            self.entries[n as usize].timer_prev = p;
        }
    }

    /// Expires connections due at or before second `now`, at most `budget` of them; calls
    /// `on_expire` for each before it is freed. Returns how many expired. Work left over
    /// (budget reached) continues at the next call.
    pub fn expire(&mut self, now: u32, budget: usize, mut on_expire: impl FnMut(&Conn<K>)) -> usize {
        let mut done = 0;
        while self.wheel_done < now {
            let second = self.wheel_done.wrapping_add(1);
            let slot = (second & self.wheel_mask) as usize;
            let mut i = std::mem::replace(&mut self.wheel[slot], NIL);
            while i != NIL {
                if done == budget {
                    // Put the rest back, links intact; this second is not finished.
                    self.reattach(slot, i);
                    return done;
                }
                // `i` leaves the list: its successor becomes the head of what is left.
                let next = self.entries[i as usize].timer_next;
                if next != NIL {
                    self.entries[next as usize].timer_prev = SLOT_HEAD + slot as u32;
                }
                if self.entries[i as usize].expires <= second {
                    on_expire(&self.entries[i as usize]);
                    let c = self.entries[i as usize];
                    self.unlink_client(i);
                    if c.has_reply_key() {
                        self.unlink_reply(i);
                    }
                    self.young_unlink(i);
                    self.free(i);
                    done += 1;
                } else {
                    self.timer_link(i);
                }
                i = next;
            }
            self.wheel_done = second;
        }
        done
    }

    /// Puts the list starting at `first` back in front of `slot`'s list.
    pub(super) fn reattach(&mut self, slot: usize, first: u32) {
        let mut last = first;
        while self.entries[last as usize].timer_next != NIL {
            last = self.entries[last as usize].timer_next;
        }
        let head = self.wheel[slot];
        self.entries[last as usize].timer_next = head;
        if head != NIL {
            self.entries[head as usize].timer_prev = last;
        }
        self.entries[first as usize].timer_prev = SLOT_HEAD + slot as u32;
        self.wheel[slot] = first;
    }
}
