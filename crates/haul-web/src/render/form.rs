//! Forms that post an action: each carries the CSRF token, and none is drawn in read-only mode.

use crate::app::Ctx;
use crate::security::csrf::FIELD;
use maud::{Markup, html};

/// The hidden token field every posting form carries.
pub(crate) fn token(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(ctx.app.csrf); }
}

/// A one-button form posting to `path` (under the base); nothing in read-only mode.
pub(crate) fn button(ctx: &Ctx, path: &str, label: &str, class: &str) -> Markup {
    if ctx.app.read_only {
        return html! {};
    }
    html! {
        form.inline method="post" action=(ctx.url(path)) {
            (token(ctx))
            button type="submit" class=(class) { (label) }
        }
    }
}
