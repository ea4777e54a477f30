//! SIGTERM, SIGINT and SIGHUP quit the emulator cleanly, as `Ctrl-a x` does (so `--persist`
//! writes the flash back): `podman stop`, `docker stop` and `kill` end a run without losing
//! guest writes. This matters most in a container, where the emulator is process 1 and the
//! kernel ignores a signal that process 1 has no handler for (the stop would wait, then SIGKILL).

use aspeed_soc::HostEvent;
use crossbeam_channel::Sender;

const SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset fill a zeroed sigset_t we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks the quit signals in the calling thread and in every thread it starts from now on,
/// so that only the thread of [`forward`] takes them. Call first thing in `main`.
pub fn block() {
    let set = signal_set();
    // SAFETY: changes this thread's signal mask; no other thread exists yet.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Waits for a quit signal on its own thread: the first one asks the run loop to quit; a second
/// one a second or more later (the clean quit is stuck) ends the process at once with 128 +
/// the signal number. Copies of the first that arrive together (`timeout` signals both the
/// child and its process group) count once.
pub fn forward(events: Sender<HostEvent>, wake: impl Fn() + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("ast-emu-signals".into())
        .spawn(move || {
            let set = signal_set();
            let mut asked: Option<std::time::Instant> = None;
            loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: waits for one of the signals blocked by `block`.
                if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                    return;
                }
                let name = match sig {
                    libc::SIGTERM => "SIGTERM",
                    libc::SIGINT => "SIGINT",
                    _ => "SIGHUP",
                };
                if let Some(first) = asked {
                    if first.elapsed() < std::time::Duration::from_secs(1) {
                        continue;
                    }
                    crate::console::restore_terminal();
                    note_text!("\r\nast-emu: {name} again; exiting now\r\n");
                    std::process::exit(128 + sig);
                }
                asked = Some(std::time::Instant::now());
                note_text!("\r\nast-emu: {name}; quitting\r\n");
                if events.send(HostEvent::Quit).is_err() {
                    return;
                }
                wake();
            }
        });
    if let Err(e) = spawned {
        log::error!("signal thread: {e}");
    }
}
