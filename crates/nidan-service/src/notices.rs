//! Security notices: every security change is told to the account's email address.
//!
//! A notice is written to a durable queue in the database with the change it reports, then
//! delivered by [`Service::deliver_notices`], which a background task calls every few seconds.
//! A failed delivery is retried with a growing delay (30 s doubling to 1 h) for up to two days,
//! so neither a restart nor a mail-server outage loses a notice, and a notice never blocks or
//! fails the request that caused it.

use crate::courier::{Notice, NoticeKind};
use crate::ports::{NewNotice, Purge};
use crate::{ClientInfo, Service, UnixTime, UserId};

/// Notices older than this are given up on (the event is long past; the log keeps it).
const GIVE_UP_AFTER_SECS: i64 = 48 * 3600;
/// A right password with no finished second step for this long is reported.
pub const UNFINISHED_AFTER_SECS: i64 = 600;

impl Service {
    /// Queues a notice; failures are logged, never returned (the change itself succeeded).
    pub(crate) async fn notify(&self, user: &UserId, kind: NoticeKind, client: &ClientInfo) {
        let Some(notice) = self.new_notice(user, kind, client) else {
            return;
        };
        if let Err(e) = self.store_ref().enqueue_notice(notice).await {
            tracing::error!(error = %e, user = %user, "could not queue a security notice");
        }
    }

    /// A notice to the account's address (`None` only if it could not be encoded: logged).
    pub(crate) fn new_notice(
        &self,
        user: &UserId,
        kind: NoticeKind,
        client: &ClientInfo,
    ) -> Option<NewNotice> {
        let kind_json = serde_json::to_string(&kind)
            .map_err(|e| tracing::error!(error = %e, "could not encode a notice"))
            .ok()?;
        Some(NewNotice {
            user_id: user.clone(),
            to: None,
            kind: kind_json,
            at: self.now(),
            ip: (!client.ip.is_empty() && client.ip != "-").then(|| client.ip.clone()),
            user_agent: (!client.user_agent.is_empty()).then(|| client.user_agent.clone()),
            country: self.country_of(&client.ip),
        })
    }

    /// Records a used recovery code in the history and tells the account (with the count left).
    pub(crate) async fn recovery_code_used(&self, user: &UserId, left: u32, client: &ClientInfo) {
        let detail = Some(format!("{left} left"));
        self.record(
            user,
            "recovery_code_used",
            Some(nidan_domain::Method::Recovery),
            "success",
            client,
            detail,
        )
        .await;
        self.notify(user, NoticeKind::RecoveryCodeUsed { left }, client)
            .await;
    }

    /// Delivers up to `limit` due notices; returns how many were sent.
    pub async fn deliver_notices(&self, limit: u32) -> usize {
        let now = self.now();
        let due = match self.store_ref().due_notices(now, limit).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the notice queue");
                return 0;
            }
        };
        let mut sent = 0;
        for queued in due {
            let kind: NoticeKind = match serde_json::from_str(&queued.kind) {
                Ok(k) => k,
                Err(e) => {
                    tracing::error!(id = queued.id, error = %e, "a queued notice cannot be read; giving up on it");
                    let _ = self
                        .store_ref()
                        .notice_failed(queued.id, None, "unreadable")
                        .await;
                    continue;
                }
            };
            let notice = Notice {
                id: queued.id,
                to: queued.email,
                locale: queued.locale,
                issuer: self.inner.policy.issuer.clone(),
                kind,
                at: queued.at,
                ip: queued.ip,
                user_agent: queued.user_agent,
                country: queued.country,
                support: self.inner.policy.support.clone(),
            };
            let result = match self.inner.courier.send_notice(&notice).await {
                Ok(()) => {
                    sent += 1;
                    self.store_ref().notice_sent(queued.id, self.now()).await
                }
                Err(e) => {
                    let delay = 30i64
                        .saturating_mul(1i64 << queued.attempts.min(7))
                        .min(3600);
                    let retry_at = now + delay;
                    let give_up = retry_at - notice.at > GIVE_UP_AFTER_SECS;
                    if give_up {
                        tracing::error!(id = queued.id, error = %e, "a security notice could not be delivered for two days; giving up");
                    } else {
                        tracing::warn!(id = queued.id, error = %e, retry_in = delay, "a security notice could not be delivered; will retry");
                    }
                    self.store_ref()
                        .notice_failed(queued.id, (!give_up).then_some(retry_at), &e.to_string())
                        .await
                }
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not update the notice queue");
            }
        }
        sent
    }

    /// Queues a notice for every sign-in whose right password was not followed by a finished
    /// second step within 10 minutes (someone else may know the password). Returns how many.
    pub async fn report_unfinished_sign_ins(&self) -> usize {
        let now = self.now();
        let found = match self
            .store_ref()
            .unfinished_challenges(now - UNFINISHED_AFTER_SECS, 100)
            .await
        {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for unfinished sign-ins");
                return 0;
            }
        };
        let mut reported = 0;
        for challenge in found {
            // A later challenge finished by the same person is not a stranger's attempt.
            let finished_later = match self.store_ref().list_sessions(&challenge.user_id).await {
                Ok(sessions) => sessions
                    .iter()
                    .any(|s| s.created_at >= challenge.created_at),
                Err(_) => false,
            };
            if !finished_later {
                let client = ClientInfo {
                    ip: challenge.ip.clone(),
                    user_agent: challenge.user_agent.clone(),
                };
                let kind = serde_json::to_string(&NoticeKind::UnfinishedSignIn).unwrap_or_default();
                let country = self.country_of(&client.ip);
                let notice = NewNotice {
                    user_id: challenge.user_id.clone(),
                    to: None,
                    kind,
                    at: challenge.created_at,
                    ip: (!client.ip.is_empty()).then_some(client.ip),
                    user_agent: (!client.user_agent.is_empty()).then_some(client.user_agent),
                    country,
                };
                if self.store_ref().enqueue_notice(notice).await.is_ok() {
                    reported += 1;
                }
            }
            if let Err(e) = self
                .store_ref()
                .mark_challenge_reported(&challenge.digest, now)
                .await
            {
                tracing::warn!(error = %e, "could not mark a challenge reported");
            }
        }
        reported
    }

    /// The retention sweep: deletes history older than `[retention] activity_days`, sessions
    /// past their idle or absolute limit, spent challenges, codes older than a day, expired
    /// reset links and devices, and sent notices older than `[retention] sent_notices_days`, in
    /// batches of 500 rows per table with a pause between them, so the writer keeps serving.
    /// Answers the rows removed.
    pub async fn purge_expired(&self) -> u64 {
        let now = self.now();
        let policy = &self.inner.policy;
        let days = |n: u32| i64::from(n) * 86_400;
        let rules = Purge {
            activity_before: now - days(policy.retention.activity_days),
            sessions_seen_before: now - policy.session_idle_secs,
            sessions_started_before: now - policy.session_absolute_secs,
            challenges_before: now,
            codes_before: now - 86_400,
            resets_before: now,
            devices_before: now,
            oidc_before: now,
            notices_before: now - days(policy.retention.sent_notices_days),
            batch: 500,
        };
        let mut total = 0;
        for _ in 0..10_000 {
            match self.store_ref().purge(rules).await {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) => {
                    tracing::warn!(error = %e, "could not purge expired rows");
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        total
    }
}

/// A time as people read it in the history: RFC 3339, UTC.
pub(crate) fn utc_text(at: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| at.to_string())
}
