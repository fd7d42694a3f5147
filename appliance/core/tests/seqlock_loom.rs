//! The seqlock under loom's model checker: every interleaving and every value the memory model
//! allows a `Relaxed` load to return. A reader that validates never holds a torn pair.
//! Runs only with `--cfg loom` (tools/test.sh does).
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::Arc;
use rvs_core::seqlock::SeqLock;

struct Guarded {
    lock: SeqLock,
    a: AtomicU32,
    b: AtomicU32,
}

#[test]
fn a_validated_read_never_sees_half_a_write() {
    loom::model(|| {
        let g = Arc::new(Guarded { lock: SeqLock::new(), a: AtomicU32::new(0), b: AtomicU32::new(0) });
        let w = Arc::clone(&g);
        let writer = loom::thread::spawn(move || {
            for v in 1..=2 {
                w.lock.write(|| {
                    w.a.store(v, Ordering::Relaxed);
                    w.b.store(v, Ordering::Relaxed);
                });
            }
        });
        for _ in 0..2 {
            if let Some((_, (a, b))) = g.lock.try_read(|| (g.a.load(Ordering::Relaxed), g.b.load(Ordering::Relaxed))) {
                assert_eq!(a, b, "torn read validated");
            }
        }
        writer.join().unwrap();
        let (_, (a, b)) = g.lock.try_read(|| (g.a.load(Ordering::Relaxed), g.b.load(Ordering::Relaxed))).unwrap();
        assert_eq!((a, b), (2, 2), "after the writer, a read sees its last write");
    });
}
