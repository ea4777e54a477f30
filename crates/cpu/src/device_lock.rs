//! The lock that serialises device access when the cores run on threads of their own.

use std::sync::{Condvar, Mutex};
use std::thread::ThreadId;

/// One lock over every device of a machine, as QEMU's big lock: with one host thread per
/// core, a core takes it for each MMIO access and each change of its timer outputs, and the
/// SoC's own thread holds it whenever it is not running guest code. Re-entrant on one
/// thread (an access made while the SoC holds it for the same thread nests).
///
/// Off until [`DeviceLock::enable`]: then [`DeviceLock::hold`] costs nothing, for machines
/// whose cores take turns on one thread.
#[derive(Default)]
pub struct DeviceLock {
    enabled: std::sync::atomic::AtomicBool,
    state: Mutex<Owner>,
    released: Condvar,
}

#[derive(Default)]
struct Owner {
    thread: Option<ThreadId>,
    depth: u32,
}

/// Holds a [`DeviceLock`] until dropped.
pub struct DeviceGuard<'a> {
    lock: &'a DeviceLock,
    held: bool,
}

impl Drop for DeviceGuard<'_> {
    fn drop(&mut self) {
        if self.held {
            self.lock.unlock();
        }
    }
}

impl DeviceLock {
    /// A lock, off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns the lock on (before the cores' threads start) or off (once they have stopped).
    pub fn enable(&self, on: bool) {
        self.enabled.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether it is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Takes the lock (nested if this thread holds it already) until the guard goes.
    pub fn hold(&self) -> DeviceGuard<'_> {
        let held = self.is_enabled();
        if held {
            self.lock();
        }
        DeviceGuard { lock: self, held }
    }

    /// Takes the lock (nested if this thread holds it already). Pair with
    /// [`DeviceLock::unlock`].
    pub fn lock(&self) {
        let me = std::thread::current().id();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.thread == Some(me) {
            s.depth += 1;
            return;
        }
        while s.depth != 0 {
            s = self.released.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.thread = Some(me);
        s.depth = 1;
    }

    /// Gives back one level of [`DeviceLock::lock`].
    pub fn unlock(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        debug_assert_eq!(s.thread, Some(std::thread::current().id()));
        s.depth = s.depth.saturating_sub(1);
        if s.depth == 0 {
            s.thread = None;
            drop(s);
            self.released.notify_one();
        }
    }

    /// Runs `f` with the lock fully released by this thread (whatever its nesting), taken
    /// back afterwards: for waits on another thread that may need the lock meanwhile.
    pub fn released<R>(&self, f: impl FnOnce() -> R) -> R {
        if !self.is_enabled() {
            return f();
        }
        let me = std::thread::current().id();
        let depth = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.thread != Some(me) {
                drop(s);
                return f();
            }
            let depth = s.depth;
            s.depth = 0;
            s.thread = None;
            depth
        };
        self.released.notify_one();
        let out = f();
        self.lock();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.depth = depth;
        out
    }

    /// Whether this thread holds the lock.
    pub fn held_here(&self) -> bool {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.thread == Some(std::thread::current().id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_disabled_lock_is_never_taken() {
        let lock = DeviceLock::new();
        let _g = lock.hold();
        assert!(!lock.held_here());
    }

    #[test]
    fn the_lock_nests_on_one_thread_and_excludes_others() {
        let lock = Arc::new(DeviceLock::new());
        lock.enable(true);
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (lock, counter) = (lock.clone(), counter.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let _outer = lock.hold();
                        let _inner = lock.hold();
                        // A read-modify-write that would lose updates if two threads held it.
                        let v = counter.load(std::sync::atomic::Ordering::Relaxed);
                        counter.store(v + 1, std::sync::atomic::Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(std::sync::atomic::Ordering::Relaxed), 40_000);
        assert!(!lock.held_here());
    }

    #[test]
    fn released_gives_the_lock_to_another_thread_and_takes_it_back() {
        let lock = Arc::new(DeviceLock::new());
        lock.enable(true);
        lock.lock();
        lock.lock();
        let other = lock.clone();
        let got = lock.released(|| {
            std::thread::spawn(move || {
                let _g = other.hold();
                true
            })
            .join()
            .unwrap()
        });
        assert!(got);
        assert!(lock.held_here());
        lock.unlock();
        lock.unlock();
        assert!(!lock.held_here());
    }
}
