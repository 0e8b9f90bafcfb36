//! Log lines of one test: a subscriber for the whole test binary, installed once, writes each
//! line into the buffer of the thread that logged it, when that thread asked for its lines.
//!
//! Not a subscriber per test (`tracing::subscriber::set_default`): tracing caches per call site
//! whether anyone listens, and a call site first reached by another test's thread, where nothing
//! listened, would stay silent for this test too. One global subscriber listens everywhere and
//! decides per event, by thread.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, Once};

use tracing::Level;
use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

type Buffer = Arc<Mutex<Vec<u8>>>;

thread_local! {
    /// The most verbose level wanted on this thread, and where its lines go.
    static WANTED: RefCell<Option<(Level, Buffer)>> = const { RefCell::new(None) };
}

/// The lines logged on this thread while it lives (the test's runtime must run on the test's
/// thread, as `#[tokio::test]`'s does).
pub struct Captured {
    buffer: Buffer,
}

impl Captured {
    /// Everything captured so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.buffer.lock().unwrap().clone()).unwrap()
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        WANTED.with(|w| *w.borrow_mut() = None);
    }
}

/// Captures the lines at `level` and above logged on this thread from now on.
pub fn capture(level: Level) -> Captured {
    install();
    let buffer = Buffer::default();
    WANTED.with(|w| *w.borrow_mut() = Some((level, buffer.clone())));
    Captured { buffer }
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| ToThisThread)
            // Dynamic: asked at every event, never cached per call site.
            .with_filter(dynamic_filter_fn(|meta, _| {
                WANTED.with(|w| {
                    w.borrow()
                        .as_ref()
                        .is_some_and(|(level, _)| meta.level() <= level)
                })
            }));
        tracing::subscriber::set_global_default(Registry::default().with(layer)).unwrap();
        // Call sites reached before now were cached as unheard: ask again.
        tracing::callsite::rebuild_interest_cache();
    });
}

/// Appends to the buffer of the thread that writes, if it has one.
struct ToThisThread;

impl Write for ToThisThread {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        WANTED.with(|w| {
            if let Some((_, buffer)) = w.borrow().as_ref() {
                buffer.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
