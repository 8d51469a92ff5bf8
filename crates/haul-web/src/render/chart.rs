//! Bar charts as inline SVG: one bar per point, the largest scaled to the chart's height, with
//! a title per bar (its value on hover) and a text summary for screen readers.

use maud::{Markup, html};

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 120.0;

/// One bar: its label (shown on hover) and value.
pub(crate) struct Bar {
    pub label: String,
    pub value: i64,
}

/// A bar chart of `bars`, titled `title`, bars in `color`.
pub(crate) fn bars(title: &str, color: &str, bars: &[Bar]) -> Markup {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let total: i64 = bars.iter().map(|b| b.value).sum();
    let step = WIDTH / bars.len().max(1) as f64;
    let summary = format!("{title}: {total} in all, at most {} in one minute", max as i64);
    html! {
        figure.chart {
            figcaption { (title) " " span.muted { "(" (total) ")" } }
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT + 1.0) } role="img" aria-label=(summary) {
                line x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) stroke="#d9dee7" {}
                @for (i, b) in bars.iter().enumerate() {
                    @let h = (b.value as f64 / max * HEIGHT).max(if b.value > 0 { 1.0 } else { 0.0 });
                    rect x=(format!("{:.1}", i as f64 * step + 0.5)) y=(format!("{:.1}", HEIGHT - h))
                        width=(format!("{:.1}", (step - 1.0).max(0.5))) height=(format!("{h:.1}")) fill=(color) {
                        title { (b.label) ": " (b.value) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_bar_fills_the_height_and_labels_are_escaped() {
        let points = [Bar { label: "<a>".into(), value: 2 }, Bar { label: "b".into(), value: 4 }];
        let svg = bars("done", "#000", &points).into_string();
        assert!(svg.contains(r#"height="120.0""#), "{svg}");
        assert!(svg.contains(r#"height="60.0""#), "{svg}");
        assert!(svg.contains("&lt;a&gt;: 2") && !svg.contains("<a>"), "{svg}");
    }
}
