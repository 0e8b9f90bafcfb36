//! Names of second-factor methods and of an account's two-step state.
//!
//! This module exists so that the strings stored in the database and sent over the API map to
//! closed enums in one place. It guarantees that `as_str` and `FromStr` are exact inverses and
//! that unknown strings are an error, never a default.

use std::fmt;
use std::str::FromStr;

/// A second-factor method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// A security key or passkey (WebAuthn): a signature no phishing site can obtain.
    Webauthn,
    /// An authenticator app (TOTP).
    Totp,
    /// A code by text message (a "restricted" authenticator).
    Sms,
    /// A code by email (weaker; the operator may turn it off).
    Email,
    /// A single-use recovery code.
    Recovery,
}

/// A string that names no known method.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown method")]
pub struct UnknownMethod;

impl Method {
    /// Every method, in display order.
    pub const ALL: [Method; 5] = [
        Method::Webauthn,
        Method::Totp,
        Method::Sms,
        Method::Email,
        Method::Recovery,
    ];

    /// The stored and wire name: `"webauthn"`, `"totp"`, `"sms"`, `"email"` or `"recovery"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Webauthn => "webauthn",
            Method::Totp => "totp",
            Method::Sms => "sms",
            Method::Email => "email",
            Method::Recovery => "recovery",
        }
    }
}

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or(UnknownMethod)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a session's sign-in proved beyond the password: a code of one method, or a device the
/// user chose to remember (which stands in for the second step, for its own user only); or, with
/// no password at all, a passkey that verified its user (two factors in one: the device, and the
/// PIN or biometric that unlocked it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecondStep {
    /// A code (or recovery code) of this method.
    Method(Method),
    /// A remembered device.
    Device,
    /// A passkey, without a password.
    Passkey,
}

impl SecondStep {
    /// The stored name: a method's name, or `"device"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecondStep::Method(m) => m.as_str(),
            SecondStep::Device => "device",
            SecondStep::Passkey => "passkey",
        }
    }
}

impl FromStr for SecondStep {
    type Err = UnknownMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "device" => Ok(SecondStep::Device),
            "passkey" => Ok(SecondStep::Passkey),
            s => s.parse().map(SecondStep::Method),
        }
    }
}

/// Whether an account has two-step verification, and whether it is currently in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TwoStepState {
    /// Never set up (or removed).
    None,
    /// Set up and required at sign-in.
    On,
    /// Set up but turned off for now (factors kept).
    Off,
}

/// A string that names no known two-step state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown two-step state")]
pub struct UnknownTwoStepState;

impl TwoStepState {
    /// The stored and wire name: `"none"`, `"on"` or `"off"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TwoStepState::None => "none",
            TwoStepState::On => "on",
            TwoStepState::Off => "off",
        }
    }
}

impl FromStr for TwoStepState {
    type Err = UnknownTwoStepState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(TwoStepState::None),
            "on" => Ok(TwoStepState::On),
            "off" => Ok(TwoStepState::Off),
            _ => Err(UnknownTwoStepState),
        }
    }
}

impl fmt::Display for TwoStepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for m in Method::ALL {
            assert_eq!(m.as_str().parse::<Method>(), Ok(m));
            assert_eq!(m.to_string(), m.as_str());
        }
        for s in [TwoStepState::None, TwoStepState::On, TwoStepState::Off] {
            assert_eq!(s.as_str().parse::<TwoStepState>(), Ok(s));
        }
    }

    #[test]
    fn unknown_is_an_error() {
        for s in ["", "TOTP", "totp ", "push", "totp\0"] {
            assert_eq!(s.parse::<Method>(), Err(UnknownMethod));
        }
        assert_eq!("ON".parse::<TwoStepState>(), Err(UnknownTwoStepState));
    }
}
