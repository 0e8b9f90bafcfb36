//! The four workloads: the `/healthz` baseline, verify with valid codes, verify with wrong
//! codes, and full sign-ins (password, then an authenticator code).
//!
//! Valid codes come from [`Codes`]: every (user, step) pair is handed out once, in increasing
//! step order per user and round-robin over the users (so the oldest step, T-1, goes first), and
//! only while the server's ±1 window still accepts it. The codes for the steps around the start
//! of each level are precomputed; a step outside that table (the clock moved on) is computed
//! when handed out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::{Method, StatusCode};
use nidan_domain::totp::{totp_code_for_step, totp_step};
use serde_json::{Value, json};

use crate::http::Conn;
use crate::load::{Outcome, Scenario};

/// A 20-byte TOTP seed.
pub type Seed = [u8; 20];

/// The current TOTP step by the wall clock.
// The harness is a client of the server, not part of the service: it must read the same wall
// clock the server's Clock port reads, so the Clock port rule does not apply here.
#[allow(clippy::disallowed_methods)]
pub fn now_step() -> u64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    totp_step(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Milliseconds until the next TOTP step begins.
#[allow(clippy::disallowed_methods)] // the wall clock, as in `now_step`
fn until_next_step_ms() -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    30_000 - ms % 30_000
}

fn code_num(seed: &Seed, step: u64) -> u32 {
    totp_code_for_step(seed, step).parse().unwrap_or(0)
}

/// The oldest step a user may still use at step `t`: the server accepts T-1..=T+1, each step
/// newer than the last one used.
fn first_fresh_step(last_used: Option<u64>, t: u64) -> u64 {
    match last_used {
        None => t - 1,
        Some(last) => (last + 1).max(t - 1),
    }
}

/// A code is handed out only if the server will still accept it this long from now: a code for
/// T-1 taken in the last moments of a step reaches the server after its window moved on and is
/// rightly refused (seen: 3 `invalid_code` answers among 81,000 in one 5 s level).
const HANDOUT_MARGIN_MS: u64 = 1_000;

/// The step whose T-1 is the oldest code worth handing out now: the current one, or the next
/// one within [`HANDOUT_MARGIN_MS`] of its start.
fn handout_step(t: u64, ms_to_next_step: u64) -> u64 {
    if ms_to_next_step < HANDOUT_MARGIN_MS {
        t + 1
    } else {
        t
    }
}

/// The current step and the step whose T-1 is the oldest code worth handing out now (see
/// [`handout_step`]): what `take` hands out and `fresh_now` counts.
fn handout_window() -> (u64, u64) {
    let t = now_step();
    (t, handout_step(t, until_next_step_ms()))
}

/// Hands out fresh valid codes for a set of users.
pub struct Codes {
    seeds: Arc<Vec<Seed>>,
    first: usize,
    state: Mutex<CodesState>,
}

struct CodesState {
    next: usize,
    last_used: Vec<Option<u64>>,
    base_step: u64,
    /// Per user, the codes for `base_step - 1 ..= base_step + 2`.
    table: Vec<[u32; 4]>,
}

impl Codes {
    /// Codes for users `range` of `seeds`.
    pub fn new(seeds: Arc<Vec<Seed>>, range: std::ops::Range<usize>) -> Codes {
        let n = range.len();
        Codes {
            seeds,
            first: range.start,
            state: Mutex::new(CodesState {
                next: 0,
                last_used: vec![None; n],
                base_step: 0,
                table: Vec::new(),
            }),
        }
    }

    /// Precomputes the codes around the current step (call before a level).
    pub fn prepare(&self) {
        let base = now_step();
        let n = self.lock().last_used.len();
        let table: Vec<[u32; 4]> = (0..n)
            .map(|i| {
                let seed = &self.seeds[self.first + i];
                [0, 1, 2, 3].map(|k| code_num(seed, base - 1 + k))
            })
            .collect();
        let mut st = self.lock();
        st.base_step = base;
        st.table = table;
    }

    /// How many (user, step) pairs the server would accept right now.
    pub fn fresh_now(&self) -> usize {
        let (t, oldest_from) = handout_window();
        self.lock()
            .last_used
            .iter()
            .map(|&last| (t + 2).saturating_sub(first_fresh_step(last, oldest_from)) as usize)
            .sum()
    }

    /// Waits (at most two TOTP steps) until at least `min` fresh pairs exist: a fast server uses
    /// every user's steps up within one level, and the next level must not measure an empty
    /// table. Returns the seconds waited.
    pub async fn wait_for_fresh(&self, min: usize) -> f64 {
        let start = std::time::Instant::now();
        for _ in 0..2 {
            if self.fresh_now() >= min {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(until_next_step_ms() + 50)).await;
        }
        start.elapsed().as_secs_f64()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CodesState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next fresh (user index, code), or `None` when every user has used every step the
    /// server accepts now.
    pub fn take(&self) -> Option<(usize, String)> {
        let (t, oldest_from) = handout_window();
        let mut st = self.lock();
        let n = st.last_used.len();
        for _ in 0..n {
            let i = st.next;
            st.next = (i + 1) % n;
            let step = first_fresh_step(st.last_used[i], oldest_from);
            if step > t + 1 {
                continue;
            }
            st.last_used[i] = Some(step);
            let code = match step.checked_sub(st.base_step - 1) {
                Some(k) if k < 4 && !st.table.is_empty() => st.table[i][k as usize],
                _ => code_num(&self.seeds[self.first + i], step),
            };
            return Some((self.first + i, format!("{code:06}")));
        }
        None
    }
}

/// `GET /healthz`.
pub struct Healthz;

impl Scenario for Healthz {
    async fn run_one(&self, conn: &mut Conn) -> Option<Outcome> {
        Some(match conn.send(Method::GET, "/healthz", None, None).await {
            Ok((StatusCode::OK, _)) => Outcome::ok("ok"),
            Ok((s, _)) => Outcome::bad(format!("http_{}", s.as_u16())),
            Err(_) => Outcome::bad("transport_error"),
        })
    }
}

/// `POST /api/v1/verify` with a fresh valid code each time.
pub struct VerifyValid {
    /// The API key.
    pub key: String,
    /// Users' emails, indexed like the seeds.
    pub emails: Arc<Vec<String>>,
    /// The code source.
    pub codes: Codes,
}

fn verify_outcome(result: anyhow::Result<(StatusCode, bytes::Bytes)>, wrong: bool) -> Outcome {
    let (status, body) = match result {
        Ok(r) => r,
        Err(_) => return Outcome::bad("transport_error"),
    };
    match status {
        StatusCode::OK => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            match (v["valid"].as_bool(), wrong) {
                (Some(true), false) => Outcome::ok("valid_true"),
                (Some(false), true) => Outcome::ok("valid_false"),
                (Some(true), true) => Outcome::bad("valid_true"),
                _ => Outcome::bad(format!(
                    "valid_false:{}",
                    v["reason"].as_str().unwrap_or("?")
                )),
            }
        }
        StatusCode::TOO_MANY_REQUESTS => Outcome {
            label: "http_429".into(),
            ok: wrong,
        },
        s => Outcome::bad(format!("http_{}", s.as_u16())),
    }
}

impl Scenario for VerifyValid {
    async fn run_one(&self, conn: &mut Conn) -> Option<Outcome> {
        let (user, code) = self.codes.take()?;
        let body = json!({"user": self.emails[user], "code": code}).to_string();
        let r = conn
            .send(Method::POST, "/api/v1/verify", Some(&self.key), Some(body))
            .await;
        Some(verify_outcome(r, false))
    }
}

/// `POST /api/v1/verify` with a wrong code, round-robin over its own users.
pub struct VerifyWrong {
    /// The API key.
    pub key: String,
    /// Users' emails, indexed like the seeds.
    pub emails: Arc<Vec<String>>,
    /// The seeds (to make sure the wrong code is not accidentally right).
    pub seeds: Arc<Vec<Seed>>,
    /// The users this scenario uses.
    pub range: std::ops::Range<usize>,
    /// Round-robin position.
    pub next: AtomicUsize,
}

impl Scenario for VerifyWrong {
    async fn run_one(&self, conn: &mut Conn) -> Option<Outcome> {
        let n = self.range.len().max(1);
        let user = self.range.start + self.next.fetch_add(1, Ordering::Relaxed) % n;
        let t = now_step();
        let right = [t - 1, t, t + 1].map(|s| code_num(&self.seeds[user], s));
        let mut wrong = (right[1] + 500_000) % 1_000_000;
        while right.contains(&wrong) {
            wrong = (wrong + 1) % 1_000_000;
        }
        let body = json!({"user": self.emails[user], "code": format!("{wrong:06}")}).to_string();
        let r = conn
            .send(Method::POST, "/api/v1/verify", Some(&self.key), Some(body))
            .await;
        Some(verify_outcome(r, true))
    }
}

/// A full sign-in: `POST /api/v1/login` then `POST /api/v1/login/verify` with a fresh code.
pub struct SignIn {
    /// Users' emails, indexed like the seeds.
    pub emails: Arc<Vec<String>>,
    /// Their (shared) password.
    pub password: String,
    /// The code source (over the sign-in users).
    pub codes: Codes,
}

impl Scenario for SignIn {
    async fn run_one(&self, conn: &mut Conn) -> Option<Outcome> {
        let (user, code) = self.codes.take()?;
        let body = json!({"email": self.emails[user], "password": self.password}).to_string();
        let (status, bytes) = match conn
            .send(Method::POST, "/api/v1/login", None, Some(body))
            .await
        {
            Ok(r) => r,
            Err(_) => return Some(Outcome::bad("transport_error")),
        };
        if status != StatusCode::OK {
            return Some(Outcome::bad(format!("login_http_{}", status.as_u16())));
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let Some(challenge) = v["challenge_id"].as_str() else {
            return Some(Outcome::bad("login_no_challenge"));
        };
        let body = json!({"challenge_id": challenge, "method": "totp", "code": code}).to_string();
        Some(
            match conn
                .send(Method::POST, "/api/v1/login/verify", None, Some(body))
                .await
            {
                Ok((StatusCode::OK, _)) => Outcome::ok("signed_in"),
                Ok((s, _)) => Outcome::bad(format!("verify_http_{}", s.as_u16())),
                Err(_) => Outcome::bad("transport_error"),
            },
        )
    }
}

/// The host of the app behind forward-auth (a `two_factor` rule names it).
pub const APP_HOST: &str = "app.bench.test";

/// Forward-auth's question about a request to an app, for a browser with a two-step session:
/// `GET /api/v1/authz/forward-auth` as Traefik or Caddy asks it, sessions taken round-robin.
pub struct ForwardAuth {
    /// `nidan_session=<token>` of sessions made with the second step.
    pub cookies: Vec<String>,
    /// Round-robin position.
    pub next: AtomicUsize,
}

impl Scenario for ForwardAuth {
    async fn run_one(&self, conn: &mut Conn) -> Option<Outcome> {
        let n = self.cookies.len();
        if n == 0 {
            return None;
        }
        let cookie = &self.cookies[self.next.fetch_add(1, Ordering::Relaxed) % n];
        let headers = [
            ("x-forwarded-method", "GET"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", APP_HOST),
            ("x-forwarded-uri", "/dashboard/1?refresh=30s"),
            ("accept", "text/html"),
            ("cookie", cookie.as_str()),
        ];
        Some(
            match conn
                .send_with(
                    Method::GET,
                    "/api/v1/authz/forward-auth",
                    None,
                    None,
                    &headers,
                )
                .await
            {
                Ok((StatusCode::OK, _)) => Outcome::ok("allowed"),
                Ok((s, _)) => Outcome::bad(format!("http_{}", s.as_u16())),
                Err(_) => Outcome::bad("transport_error"),
            },
        )
    }
}

/// Signs `count` of the sign-in users in with the password and a code; answers their session
/// cookies (for [`ForwardAuth`]).
pub async fn two_step_sessions(
    conn: &mut Conn,
    signin: &SignIn,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let mut cookies = Vec::with_capacity(count);
    while cookies.len() < count {
        let Some((user, code)) = signin.codes.take() else {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            continue;
        };
        let body = json!({"email": signin.emails[user], "password": signin.password}).to_string();
        let (_, bytes) = conn
            .send(Method::POST, "/api/v1/login", None, Some(body))
            .await?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let challenge = v["challenge_id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("sign-in answered without a challenge: {v}"))?;
        let body = json!({"challenge_id": challenge, "method": "totp", "code": code}).to_string();
        let (_, bytes) = conn
            .send(Method::POST, "/api/v1/login/verify", None, Some(body))
            .await?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let token = v["session_token"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the second step answered without a session: {v}"))?;
        cookies.push(format!("nidan_session={token}"));
    }
    Ok(cookies)
}

/// `POST /api/v1/login` with a wrong password from more connections than the hashing pool and
/// its queue hold: every answer must be the 401 of a password that was checked, the 503 of a
/// full queue, or the 429 of an account whose wrong passwords are being held back (answered
/// without hashing); nothing else, and no unbounded wait.
pub struct PasswordBurst {
    /// Users' emails, indexed like the seeds.
    pub emails: Arc<Vec<String>>,
    /// The users this scenario uses.
    pub range: std::ops::Range<usize>,
    /// Round-robin position.
    pub next: AtomicUsize,
}

impl Scenario for PasswordBurst {
    async fn run_one(&self, conn: &mut Conn) -> Option<Outcome> {
        let n = self.range.len().max(1);
        let user = self.range.start + self.next.fetch_add(1, Ordering::Relaxed) % n;
        let body =
            json!({"email": self.emails[user], "password": "not the password, but long enough"})
                .to_string();
        Some(
            match conn
                .send(Method::POST, "/api/v1/login", None, Some(body))
                .await
            {
                Ok((StatusCode::UNAUTHORIZED, _)) => Outcome::ok("checked_401"),
                Ok((StatusCode::SERVICE_UNAVAILABLE, _)) => Outcome::ok("queue_full_503"),
                Ok((StatusCode::TOO_MANY_REQUESTS, _)) => Outcome::ok("account_limit_429"),
                Ok((s, _)) => Outcome::bad(format!("http_{}", s.as_u16())),
                Err(_) => Outcome::bad("transport_error"),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_code_is_handed_out_in_the_last_second_of_its_window() {
        assert_eq!(handout_step(100, 29_000), 100);
        assert_eq!(handout_step(100, 1_000), 100);
        assert_eq!(handout_step(100, 999), 101);
        // Near the end of step 100 a user who used nothing starts at step 100, not 99.
        assert_eq!(first_fresh_step(None, handout_step(100, 500)), 100);
        assert_eq!(first_fresh_step(Some(100), handout_step(100, 500)), 101);
    }

    #[test]
    fn codes_hand_out_each_user_step_once_in_order() {
        let seeds = Arc::new(vec![[1u8; 20], [2u8; 20]]);
        let codes = Codes::new(seeds.clone(), 0..2);
        codes.prepare();
        let t = now_step();
        let far_from_the_next_step = until_next_step_ms() > HANDOUT_MARGIN_MS + 500;
        let mut got = Vec::new();
        while let Some(x) = codes.take() {
            got.push(x);
            if got.len() > 10 {
                break;
            }
        }
        // Two users × three steps (unless the step changed, or is about to, during the test).
        if now_step() == t && far_from_the_next_step {
            assert_eq!(got.len(), 6);
            assert_eq!(got[0], (0, totp_code_for_step(&seeds[0], t - 1)));
            assert_eq!(got[1], (1, totp_code_for_step(&seeds[1], t - 1)));
            assert_eq!(got[5], (1, totp_code_for_step(&seeds[1], t + 1)));
        }
    }
}
