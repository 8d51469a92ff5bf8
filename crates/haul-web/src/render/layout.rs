//! The page shell: head with the embedded assets, the navigation, and the live region a
//! screen may mark for refresh. A live request gets the region's content only.

use crate::app::Ctx;
use crate::screens::NAV;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// Seconds between live refreshes.
const LIVE_EVERY_S: u32 = 5;

/// A full page of screen `current` (its path), or for a live request `live` alone.
/// `fixed` comes before the live part and is not refreshed.
pub(crate) fn page(ctx: &Ctx, current: &str, title: &str, fixed: Markup, live: Option<Markup>) -> Response {
    if ctx.live {
        return Html(live.unwrap_or_default().into_string()).into_response();
    }
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                                title { (title) " · Haul" }
                link rel="stylesheet" href=(ctx.url("/assets/app.css"));
                script src=(ctx.url("/assets/app.js")) defer {}
            }
            body {
                header {
                    span.brand { "Haul" }
                    nav aria-label="Screens" {
                        @for s in NAV {
                            @let href = ctx.url(s.path);
                            @if s.path == current {
                                a href=(href) aria-current="page" { (s.title) }
                            } @else {
                                a href=(href) { (s.title) }
                            }
                        }
                    }
                    span.mode {
                        @if ctx.app.read_only { "read-only · " }
                        span #live-status { @if live.is_some() { "live" } }
                    }
                }
                main {
                    h1 { (title) }
                    (fixed)
                    @if let Some(live) = live {
                        div data-live=(LIVE_EVERY_S) { (live) }
                    }
                }
            }
        }
    };
    Html(doc.into_string()).into_response()
}

/// A bare page for a refused or failed request (no assets: it may be answering before the
/// router knows its base path).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Html<String> {
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (status.as_u16()) " · Haul" } }
            body {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p.error { (message) }
            }
        }
    };
    Html(doc.into_string())
}
