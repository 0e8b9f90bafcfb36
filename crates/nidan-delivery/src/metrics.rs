//! Delivery counters: how many messages each channel delivered or failed to deliver, as
//! `prometheus-client` counters that the web layer's registry shows at `/metrics`.

use nidan_service::courier::Channel;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// One series: a channel, what was sent on it, and how it went.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Delivery {
    channel: &'static str,
    /// `code` or `notice`.
    kind: &'static str,
    /// `sent` or `failed`.
    result: &'static str,
}

/// What can be sent on which channel: codes by email and SMS, notices by email.
const KINDS: [(&str, &str); 3] = [("email", "code"), ("email", "notice"), ("sms", "code")];

/// Counts of deliveries by channel (`email`, `sms`), kind and result. A message written to the
/// outbox counts as sent on its channel.
#[derive(Debug, Default)]
pub(crate) struct DeliveryCounts(Family<Delivery, Counter>);

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email",
        Channel::Sms => "sms",
    }
}

impl DeliveryCounts {
    /// Records one delivery of a `kind` (`code`, `notice`).
    pub(crate) fn record(&self, channel: Channel, kind: &'static str, ok: bool) {
        let label = Delivery {
            channel: channel_name(channel),
            kind,
            result: if ok { "sent" } else { "failed" },
        };
        self.0.get_or_create(&label).inc();
    }

    /// Adds the counters to `registry`, every series present from the start at 0.
    pub(crate) fn register(&self, registry: &mut Registry) {
        for (channel, kind) in KINDS {
            for result in ["sent", "failed"] {
                drop(self.0.get_or_create(&Delivery {
                    channel,
                    kind,
                    result,
                }));
            }
        }
        registry.register(
            "nidan_deliveries",
            "Messages handed to SMTP, the SMS gateway or the outbox, by channel, kind and result",
            self.0.clone(),
        );
    }

    /// Every (channel, result, count) summed over kinds, always all four rows in a fixed order.
    pub(crate) fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut rows = Vec::with_capacity(4);
        for channel in ["email", "sms"] {
            for result in ["sent", "failed"] {
                let n = KINDS
                    .iter()
                    .filter(|(c, _)| *c == channel)
                    .filter_map(|&(channel, kind)| {
                        self.0
                            .get(&Delivery {
                                channel,
                                kind,
                                result,
                            })
                            .map(|c| c.get())
                    })
                    .sum();
                rows.push((channel, result, n));
            }
        }
        rows
    }
}
