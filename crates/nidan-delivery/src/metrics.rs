//! Delivery counters: how many messages each channel delivered or failed to deliver, kept in
//! atomics so the hot path takes no lock, and read by the web layer for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use nidan_service::courier::Channel;

/// Counts of deliveries by channel (`email`, `sms`) and result (`sent`, `failed`). A message
/// written to the outbox counts as sent on its channel.
#[derive(Debug, Default)]
pub(crate) struct DeliveryCounts {
    email_sent: AtomicU64,
    email_failed: AtomicU64,
    sms_sent: AtomicU64,
    sms_failed: AtomicU64,
}

impl DeliveryCounts {
    /// Records one delivery.
    pub(crate) fn record(&self, channel: Channel, ok: bool) {
        let counter = match (channel, ok) {
            (Channel::Email, true) => &self.email_sent,
            (Channel::Email, false) => &self.email_failed,
            (Channel::Sms, true) => &self.sms_sent,
            (Channel::Sms, false) => &self.sms_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every (channel, result, count), always all four rows in a fixed order.
    pub(crate) fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        vec![
            ("email", "sent", self.email_sent.load(Ordering::Relaxed)),
            ("email", "failed", self.email_failed.load(Ordering::Relaxed)),
            ("sms", "sent", self.sms_sent.load(Ordering::Relaxed)),
            ("sms", "failed", self.sms_failed.load(Ordering::Relaxed)),
        ]
    }
}
