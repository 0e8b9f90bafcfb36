//! What both backends read for a code check (`Checks::account_for_check`): one statement for the
//! account, its active credential, its unused recovery codes, its security keys and whether it has
//! email or SMS methods; the methods themselves only when there are any (a second statement).

use nidan_service::ports::{AccountForCheck, OobMethod, TotpCredential, UserRecord};

/// The first statement's row, decoded.
pub(crate) struct CheckRow {
    pub user: UserRecord,
    pub totp: Option<TotpCredential>,
    /// `COUNT(*)` of the unused recovery codes.
    pub recovery_left: i64,
    /// Whether the account has email or SMS methods (then `oob` must be read).
    pub has_oob: bool,
    /// `COUNT(*)` of its security keys and passkeys.
    pub webauthn_keys: i64,
}

impl CheckRow {
    /// The account for the check, with its email and SMS methods (empty unless `has_oob`).
    pub(crate) fn into_account(self, oob: Vec<OobMethod>) -> AccountForCheck {
        AccountForCheck {
            user: self.user,
            totp: self.totp,
            oob,
            recovery_codes_left: self.recovery_left.clamp(0, i64::from(u32::MAX)) as u32,
            webauthn_keys: self.webauthn_keys.clamp(0, i64::from(u32::MAX)) as u32,
        }
    }
}
