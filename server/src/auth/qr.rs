//! QR codes as SVG, made on the server: invite links and two-factor enrolment.

/// `text` as a QR code in SVG, dark modules on white with the quiet zone around.
pub fn svg(text: &str) -> String {
    match qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(220, 220)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
        // A link of a few dozen bytes always fits; the page shows the link either way.
        Err(_) => String::new(),
    }
}
