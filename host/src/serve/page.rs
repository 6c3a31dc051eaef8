//! The team's page at `/`: one HTML file, its script and its style, built into the
//! binary (no build step, no CDN, works offline). It talks to the `/v1` API with the
//! token the user pastes, kept in the browser's session storage.
//!
//! Everything the page shows that a plugin controls (outputs, log lines, names) is
//! put in as text, never as HTML; the Content-Security-Policy below is the second
//! wall: no inline script or style, nothing from another origin, no framing.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/page.js");
const STYLE: &str = include_str!("page/page.css");

/// Sent with every file of the page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; \
    base-uri 'none'; frame-ancestors 'none'";

pub async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX)
}

pub async fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> Response {
    file("text/css; charset=utf-8", STYLE)
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            // The files change only with the binary; a new server must not be
            // answered with the old page from a cache.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page works under its own policy only if it has no inline script, style
    /// or handlers, and builds its DOM from text.
    #[test]
    fn the_page_needs_nothing_its_policy_forbids() {
        for (name, text) in [
            ("index.html", INDEX),
            ("page.js", SCRIPT),
            ("page.css", STYLE),
        ] {
            for banned in ["http://", "https://", "//cdn", "@import"] {
                let outside = text
                    .lines()
                    .filter(|l| l.contains(banned))
                    // The script builds links to the team's ports from `location`.
                    .filter(|l| !l.contains("`http://${"))
                    .count();
                assert_eq!(outside, 0, "{name} refers outside with `{banned}`");
            }
        }
        let lower = INDEX.to_lowercase();
        assert_eq!(
            lower.matches("<script").count(),
            1,
            "one script, from a file"
        );
        assert!(lower.contains(r#"<script src="/page.js""#));
        for inline in [
            " style=",
            " onclick=",
            " onload=",
            " onsubmit=",
            "javascript:",
        ] {
            assert!(!lower.contains(inline), "index.html has `{inline}`");
        }
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!SCRIPT.contains(sink), "page.js uses `{sink}`");
        }
    }
}
