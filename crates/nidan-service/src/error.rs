//! The one error type of the use cases. The web layer maps each variant to a status code and an
//! API error code in exactly one place; nothing else decides what a client sees.

use crate::ports::StoreError;

/// Why a use case did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input is malformed (a code of the wrong shape, a bad email, a weak password…).
    #[error("{0}")]
    InvalidRequest(String),
    /// The operator demands that email codes go to an address other than the sign-in one, and
    /// the two would be the same (adding the code address, or changing the sign-in email).
    #[error("codes must go to an email address other than the one you sign in with")]
    SeparateAddress,
    /// A new password the policy refuses: too short or long, or too easy to guess.
    #[error("{message}")]
    WeakPassword {
        /// Why, as a stable name: `too_short`, `too_long`, `control_character`, `common`,
        /// `keyboard`, `repeated`, `sequence`, `word`, `personal`, `guessable`.
        reason: &'static str,
        /// For people.
        message: String,
    },
    /// Wrong email or password (the same answer for both, and for unknown emails).
    #[error("wrong email or password")]
    InvalidCredentials,
    /// A wrong, expired or already used code.
    #[error("that code is not valid")]
    InvalidCode {
        /// Attempts the sign-in challenge still allows, when there is one.
        attempts_left: Option<u32>,
    },
    /// No valid session (or API key).
    #[error("sign in first")]
    Unauthenticated,
    /// A sensitive change needs the password (and a current code) again.
    #[error("{0}")]
    ReauthRequired(&'static str),
    /// Not allowed (e.g. sign-up is closed).
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such thing (for this user).
    #[error("{0}")]
    NotFound(&'static str),
    /// The request clashes with the current state.
    #[error("{0}")]
    Conflict(&'static str),
    /// The sign-in challenge is over: expired, used, or out of attempts.
    #[error("this sign-in has expired; start again with your password")]
    ChallengeExpired,
    /// A password reset link that was used, has expired, or whose account is gone.
    #[error("this link has expired or was used already; ask for a new one")]
    LinkExpired,
    /// Too many failures for this account (or too many requests): wait, then try again.
    #[error("{message}")]
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
        /// The second factor is locked until a recovery code or a support reset.
        locked: bool,
        /// What to tell the person.
        message: &'static str,
    },
    /// The password-hashing queue is full: a sign-in storm; try again shortly.
    #[error("the server is busy; try again shortly")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// An email or SMS could not be delivered after retries (the challenge stays usable).
    #[error("the code could not be delivered; try again, or try another method")]
    DeliveryFailed,
    /// The database is unreachable.
    #[error("the service is temporarily unavailable")]
    Unavailable(String),
    /// A bug or an unexpected failure; logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            StoreError::Unavailable(m) => ServiceError::Unavailable(m),
            StoreError::Other(m) => ServiceError::Internal(m),
        }
    }
}

/// Shorthand for use-case results.
pub type ServiceResult<T> = Result<T, ServiceError>;
