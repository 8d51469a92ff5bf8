//! OpenTelemetry trace context across the queue (the `otel` feature): an insert made inside a
//! span with an OpenTelemetry context records it in the job's metadata as W3C trace context,
//! under [`METADATA_KEY`]; the attempt's `job` span then takes that context as its parent, so
//! the job's trace continues the request that enqueued it.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use serde_json::{Map, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The metadata key holding the enqueuer's trace context:
/// `{"otel": {"traceparent": "00-<trace id>-<span id>-<flags>", "tracestate": "…"}}`.
pub const METADATA_KEY: &str = "otel";

/// `metadata` with the current span's trace context added, if there is a valid one and the
/// metadata is an object without the key (absent metadata becomes an object).
pub(crate) fn inject(metadata: Option<String>) -> Option<String> {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return metadata;
    }
    let mut object = match metadata.as_deref().map(serde_json::from_str::<Value>) {
        None => Map::new(),
        Some(Ok(Value::Object(o))) if !o.contains_key(METADATA_KEY) => o,
        Some(_) => return metadata,
    };
    let parent = format!("00-{:032x}-{:016x}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags());
    let mut trace = Map::new();
    trace.insert("traceparent".into(), parent.into());
    let state = sc.trace_state().header();
    if !state.is_empty() {
        trace.insert("tracestate".into(), state.into());
    }
    object.insert(METADATA_KEY.into(), Value::Object(trace));
    Some(Value::Object(object).to_string())
}

/// Makes the trace context in `metadata`, if any, the parent of `span` (which must not have
/// been entered yet).
pub(crate) fn adopt(span: &tracing::Span, metadata: &str) {
    if !metadata.contains("traceparent") {
        return;
    }
    let Some(sc) = extract(metadata) else { return };
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc));
}

/// The remote span context recorded under [`METADATA_KEY`].
fn extract(metadata: &str) -> Option<SpanContext> {
    let value: Value = serde_json::from_str(metadata).ok()?;
    let trace = value.get(METADATA_KEY)?;
    let parent = trace.get("traceparent")?.as_str()?;
    let mut parts = parent.split('-');
    let (version, trace_id, span_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || trace_id.len() != 32 || span_id.len() != 16 || flags.len() != 2 {
        return None;
    }
    let state = trace.get("tracestate").and_then(Value::as_str).and_then(|s| s.parse().ok());
    let sc = SpanContext::new(
        TraceId::from_hex(trace_id).ok()?,
        SpanId::from_hex(span_id).ok()?,
        TraceFlags::new(u8::from_str_radix(flags, 16).ok()?),
        true,
        state.unwrap_or_else(TraceState::default),
    );
    sc.is_valid().then_some(sc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_reads_back_and_bad_ones_are_ignored() {
        let meta = r#"{"otel":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"k=v"}}"#;
        let sc = extract(meta).unwrap();
        assert_eq!(format!("{:032x}", sc.trace_id()), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!((sc.is_sampled(), sc.trace_state().header()), (true, "k=v".to_owned()));
        for bad in [
            "{}",
            r#"{"otel":{"traceparent":"01-x-y-z"}}"#,
            r#"{"otel":{"traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}}"#,
        ] {
            assert!(extract(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn without_a_current_context_metadata_is_left_alone() {
        assert_eq!(inject(None), None);
        assert_eq!(inject(Some("[1]".into())).as_deref(), Some("[1]"));
    }
}
