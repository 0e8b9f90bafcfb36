//! The JSON request types of the API: any bytes deserialize to a request or an error, never a
//! panic; what deserializes goes on through the same parsers the handlers use (emails, methods,
//! codes), which must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nidan_domain::{
    EmailAddress, Method, TwoStepState, classify_code, normalize_numeric_code,
    normalize_recovery_code,
};
use nidan_web::routes::account::{LoginRequest, LoginVerifyRequest, SignUpRequest};
use nidan_web::routes::apps::VerifyRequest;
use nidan_web::routes::two_step::{ConfirmRequest, PasswordAndCode, StepUpRequest, TwoStepRequest};

fn code(c: &str) {
    let _ = classify_code(c);
    let _ = normalize_numeric_code(c, 6);
    let _ = normalize_recovery_code(c);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<SignUpRequest>(data) {
        let _ = EmailAddress::parse(&r.email);
        let _ = nidan_domain::check_password_policy(&r.password, 15);
    }
    if let Ok(r) = serde_json::from_slice::<LoginRequest>(data) {
        let _ = EmailAddress::parse(&r.email);
    }
    if let Ok(r) = serde_json::from_slice::<LoginVerifyRequest>(data) {
        let _ = r.method.parse::<Method>();
        code(&r.code);
    }
    if let Ok(r) = serde_json::from_slice::<VerifyRequest>(data) {
        let _ = EmailAddress::parse(&r.user);
        code(&r.code);
    }
    if let Ok(r) = serde_json::from_slice::<StepUpRequest>(data) {
        if let Some(c) = &r.code {
            code(c);
        }
    }
    if let Ok(r) = serde_json::from_slice::<ConfirmRequest>(data) {
        code(&r.code);
    }
    if let Ok(r) = serde_json::from_slice::<PasswordAndCode>(data) {
        code(&r.code);
    }
    if let Ok(r) = serde_json::from_slice::<TwoStepRequest>(data) {
        let _ = r.state.parse::<TwoStepState>();
        code(&r.code);
    }
});
