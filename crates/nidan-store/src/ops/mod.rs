//! Every store operation, written once over [`crate::db::Conn`] and run by either backend
//! (`store.rs` says which way each runs: a read, a write in its own transaction, …).
//!
//! An operation that reads and then writes an account's state takes the account's lock first
//! (`lock_user`: PostgreSQL's row lock, nothing on SQLite whose writer is alone), so concurrent
//! writers of one account queue up on every node and each sees what the previous one committed;
//! always first, so the transactions have one lock order and do not deadlock each other. The
//! one-time decisions are conditional updates (`last_used_step < $step`, `used_at IS NULL`,
//! `attempts < $max`, a compare of the failure count), so even without the lock a second writer
//! would re-check the condition on the committed row and lose.

pub(crate) mod accounts;
pub(crate) mod check;
pub(crate) mod codes;
pub(crate) mod credentials;
pub(crate) mod notices;
pub(crate) mod oidc;
pub(crate) mod sessions;
pub(crate) mod webauthn;
