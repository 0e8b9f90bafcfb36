//! The otpauth URI as a QR code, rendered to SVG on the server so the page needs no script and no
//! third party ever sees the secret.

use qrcode::QrCode;
use qrcode::render::svg;

use crate::error::ApiError;

/// An SVG QR code of `text` (error correction M, quiet zone included).
pub fn svg(text: &str) -> Result<String, ApiError> {
    let code =
        QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).map_err(|e| {
            tracing::error!(error = %e, "QR encoding failed");
            ApiError::from(nidan_service::ServiceError::Internal("qr".into()))
        })?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}
