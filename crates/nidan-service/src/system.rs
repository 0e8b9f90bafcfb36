//! The real clock and the real random source: the only places in nidan that read the system time
//! or the OS CSPRNG.

use crate::ports::{Clock, Rng, UnixTime};

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // this is the one sanctioned reading of the clock
    fn now(&self) -> UnixTime {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        }
    }
}

/// The operating system's CSPRNG.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRng;

impl Rng for OsRng {
    fn fill(&self, buf: &mut [u8]) {
        // The OS CSPRNG failing means the machine cannot make secrets at all; refusing to go on
        // is the only safe answer.
        if let Err(e) = getrandom::fill(buf) {
            panic!("the OS random number generator failed: {e}");
        }
    }
}
