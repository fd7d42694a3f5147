//! The Environment Abstraction Layer: initialised once per process.

use super::DpdkError;
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, Ordering};

/// `rte_eal_init` may run only once in a process, even after `rte_eal_cleanup`.
static EAL_USED: AtomicBool = AtomicBool::new(false);

/// The initialised EAL. Dropping it runs `rte_eal_cleanup`; everything made from it borrows it,
/// so nothing DPDK-owned can outlive the cleanup.
#[derive(Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Initialises EAL with `args` (without the program name, e.g.
    /// `["--no-huge", "--no-pci", "--no-shconf", "-m", "256", "-l", "0"]`).
    ///
    /// Fails if EAL was already initialised in this process, or with DPDK's error.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        if EAL_USED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::invalid("rte_eal_init", "EAL was already initialised in this process"));
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("rvs").expect("no NUL"));
        for a in args {
            let a = a.as_ref();
            owned.push(
                CString::new(a)
                    .map_err(|_| DpdkError::invalid("rte_eal_init", format!("argument {a:?} contains NUL")))?,
            );
        }
        // EAL may permute argv; it keeps pointers into the strings, so they are leaked on
        // purpose (a few bytes, once per process).
        let owned: &'static [CString] = Box::leak(owned.into_boxed_slice());
        let argv: &'static mut [*mut c_char] =
            Box::leak(owned.iter().map(|s| s.as_ptr().cast_mut()).collect::<Vec<_>>().into_boxed_slice());
        let argc = i32::try_from(argv.len()).map_err(|_| DpdkError::invalid("rte_eal_init", "too many arguments"))?;
        // SAFETY: argv points to argc valid NUL-terminated strings that live for the rest of
        // the process (leaked above); EAL_USED guarantees this is the only call.
        let rc = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            return Err(DpdkError::from_errno("rte_eal_init"));
        }
        Ok(Eal { _private: () })
    }

    /// Number of lcores EAL enabled (`-l` / `-c`).
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: EAL is initialised (self exists); the call only reads its config.
        unsafe { dpdk_sys::rte_lcore_count() }
    }

    /// The lcore the main thread runs on.
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: as for lcore_count.
        unsafe { dpdk_sys::rte_get_main_lcore() }
    }

    /// Worker lcores (all enabled lcores except the main one), in order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut id = u32::MAX;
        loop {
            // SAFETY: rte_get_next_lcore walks EAL's lcore table; (u32::MAX, skip_main=1,
            // wrap=0) starts from the beginning and returns RTE_MAX_LCORE at the end.
            id = unsafe { dpdk_sys::rte_get_next_lcore(id, 1, 0) };
            if id >= dpdk_sys::RTE_MAX_LCORE {
                return out;
            }
            out.push(id);
        }
    }

    /// Number of Ethernet ports DPDK knows of.
    pub fn port_count(&self) -> u16 {
        // SAFETY: reads EAL's device table.
        unsafe { dpdk_sys::rte_eth_dev_count_avail() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: every pool, port and mbuf borrows the Eal, so none is alive any more.
        unsafe { dpdk_sys::rte_eal_cleanup() };
    }
}

/// Workers launched on EAL lcores that may borrow from the enclosing stack frame: like
/// `std::thread::scope`, [`Eal::scope`] waits for every launched lcore before it returns (also
/// when the scope's closure panics), so borrowed pools, ports and rings outlive the workers.
pub struct LcoreScope<'scope, 'env: 'scope> {
    launched: std::cell::RefCell<Vec<u32>>,
    results: std::cell::RefCell<Vec<(u32, i32)>>,
    _scope: std::marker::PhantomData<&'scope mut &'scope ()>,
    _env: std::marker::PhantomData<&'env mut &'env ()>,
}

impl std::fmt::Debug for LcoreScope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LcoreScope").field("launched", &self.launched.borrow()).finish()
    }
}

type LcoreFn = Box<dyn FnOnce() -> i32 + Send + 'static>;

/// Entry point EAL calls on a worker lcore: runs the boxed closure `launch` leaked.
///
/// # Safety
/// `arg` must be a pointer from `Box::into_raw(Box<LcoreFn>)` not used anywhere else; EAL
/// passes each launch's argument to exactly one call.
unsafe extern "C" fn lcore_trampoline(arg: *mut std::ffi::c_void) -> std::ffi::c_int {
    // SAFETY: `arg` is the Box<LcoreFn> leaked by LcoreScope::launch for this one call; it is
    // reclaimed exactly once, here.
    let f = unsafe { Box::from_raw(arg.cast::<LcoreFn>()) };
    // Never unwind into C.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(-1)
}

impl<'scope> LcoreScope<'scope, '_> {
    /// Runs `f` on worker lcore `lcore`. Fails if the lcore is not a free worker.
    pub fn launch<F>(&'scope self, lcore: u32, f: F) -> Result<(), DpdkError>
    where
        F: FnOnce() -> i32 + Send + 'scope,
    {
        let f: Box<dyn FnOnce() -> i32 + Send + 'scope> = Box::new(f);
        // SAFETY: only the lifetime is erased; Eal::scope waits for this lcore (rte_eal_wait_lcore)
        // before 'scope ends, so nothing `f` borrows is gone while it runs.
        let f: LcoreFn = unsafe { std::mem::transmute::<Box<dyn FnOnce() -> i32 + Send + 'scope>, LcoreFn>(f) };
        let arg = Box::into_raw(Box::new(f));
        // SAFETY: EAL is initialised (the scope borrows the Eal); the trampoline takes ownership of
        // `arg` when the launch succeeds.
        let rc = unsafe { dpdk_sys::rte_eal_remote_launch(Some(lcore_trampoline), arg.cast(), lcore) };
        if rc != 0 {
            // SAFETY: the launch failed, so the trampoline will never run: reclaim the box here.
            drop(unsafe { Box::from_raw(arg) });
            return Err(DpdkError::new(format!("rte_eal_remote_launch(lcore {lcore})"), rc));
        }
        self.launched.borrow_mut().push(lcore);
        Ok(())
    }

    fn wait_all(&self) {
        for lcore in self.launched.borrow_mut().drain(..) {
            // SAFETY: waits for a worker this scope launched; returns its function's result.
            let rc = unsafe { dpdk_sys::rte_eal_wait_lcore(lcore) };
            self.results.borrow_mut().push((lcore, rc));
        }
    }
}

impl Eal {
    /// Runs `f` with a scope in which worker lcores can be launched; returns `f`'s result and
    /// each launched lcore's return value, after all of them have finished.
    pub fn scope<'env, F, R>(&self, f: F) -> (R, Vec<(u32, i32)>)
    where
        F: for<'scope> FnOnce(&'scope LcoreScope<'scope, 'env>) -> R,
    {
        struct WaitOnDrop<'a, 'scope, 'env>(&'a LcoreScope<'scope, 'env>);
        impl Drop for WaitOnDrop<'_, '_, '_> {
            fn drop(&mut self) {
                self.0.wait_all();
            }
        }
        let scope = LcoreScope {
            launched: std::cell::RefCell::new(Vec::new()),
            results: std::cell::RefCell::new(Vec::new()),
            _scope: std::marker::PhantomData,
            _env: std::marker::PhantomData,
        };
        let r = {
            let _guard = WaitOnDrop(&scope);
            f(&scope)
        };
        let results = scope.results.take();
        (r, results)
    }
}
