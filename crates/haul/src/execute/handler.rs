//! Handlers: an async function per job kind, erased into a registry keyed by kind. Decoding
//! the args into the handler's type happens here, once per attempt.

use super::context::JobContext;
use super::middleware::{Layers, Middleware};
use super::outcome::JobError;
use crate::error::{Error, Result};
use crate::job::{Job, RetryPolicy};
use foldhash::{HashMap, HashMapExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The future a handler returns, boxed.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

/// An async function that runs jobs of kind `J` with shared state `S`.
///
/// Implemented for every `Fn(JobContext<S>, J) -> impl Future<Output = Result<(), E>>` where
/// `E` converts into [`JobError`] (any error type does, meaning "retry").
///
/// ```
/// use haul::{JobContext, JobError, Job};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)] struct Report { id: u64 }
/// # impl Job for Report { const KIND: &'static str = "report"; }
/// async fn build_report(_ctx: JobContext<()>, job: Report) -> Result<(), std::io::Error> {
///     std::fs::metadata(format!("/tmp/report-{}", job.id))?; // an io::Error retries the job
///     Ok(())
/// }
/// fn assert_handler<H: haul::Handler<(), Report>>(_: H) {}
/// assert_handler(build_report);
/// ```
pub trait Handler<S, J>: Send + Sync + 'static {
    /// Runs one attempt.
    fn call(&self, ctx: JobContext<S>, job: J)
    -> impl Future<Output = Result<(), JobError>> + Send + 'static;
}

impl<S, J, F, Fut, E> Handler<S, J> for F
where
    F: Fn(JobContext<S>, J) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<JobError>,
{
    fn call(
        &self,
        ctx: JobContext<S>,
        job: J,
    ) -> impl Future<Output = Result<(), JobError>> + Send + 'static {
        let fut = self(ctx, job);
        async move { fut.await.map_err(Into::into) }
    }
}

type ErasedCall<S> = Box<dyn Fn(JobContext<S>, &str) -> Result<HandlerFuture, String> + Send + Sync>;

/// One kind's handler with that kind's defaults.
pub(crate) struct Route<S> {
    pub kind: &'static str,
    /// `kind` shared, so an attempt names its kind without allocating.
    pub name: Arc<str>,
    pub queue: &'static str,
    pub type_name: &'static str,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// The middleware around this kind's handler, outermost first (often none).
    pub layers: Layers,
    call: ErasedCall<S>,
}

impl<S> Route<S> {
    /// Decodes `args` and starts the handler; a decode failure comes back as its message.
    pub(crate) fn start(&self, ctx: JobContext<S>, args: &str) -> Result<HandlerFuture, String> {
        (self.call)(ctx, args)
    }
}

/// Handlers by kind.
pub(crate) struct Registry<S> {
    routes: HashMap<&'static str, Route<S>>,
}

impl<S> Default for Registry<S> {
    fn default() -> Self {
        Registry { routes: HashMap::new() }
    }
}

impl<S: Send + 'static> Registry<S> {
    /// Adds the handler for `J::KIND`; a second handler for one kind is an error.
    pub(crate) fn insert<J: Job, H: Handler<S, J>>(&mut self, handler: H) -> Result<()> {
        crate::names::validate_kind(J::KIND)?;
        crate::names::validate_queue(J::QUEUE)?;
        if self.routes.contains_key(J::KIND) {
            return Err(Error::InvalidWorker(format!(
                "two handlers registered for job kind `{}`: register each kind once",
                J::KIND
            )));
        }
        let call: ErasedCall<S> = Box::new(move |ctx, args| {
            let job: J = decode(args)?;
            Ok(Box::pin(handler.call(ctx, job)) as HandlerFuture)
        });
        let route = Route {
            kind: J::KIND,
            name: J::KIND.into(),
            queue: J::QUEUE,
            type_name: std::any::type_name::<J>(),
            timeout: J::TIMEOUT,
            retry: J::RETRY,
            layers: Arc::new([]),
            call,
        };
        self.routes.insert(J::KIND, route);
        Ok(())
    }
}

impl<S> Registry<S> {
    pub(crate) fn get(&self, kind: &str) -> Option<&Route<S>> {
        self.routes.get(kind)
    }

    /// Registered kinds, sorted.
    pub(crate) fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.routes.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    pub(crate) fn routes(&self) -> impl Iterator<Item = &Route<S>> {
        self.routes.values()
    }

    /// Gives each kind its layers: `every` outermost, then that kind's own from `per_kind`.
    /// A kind in `per_kind` with no handler is an error.
    pub(crate) fn set_layers(
        &mut self,
        every: &[Arc<dyn Middleware>],
        per_kind: Vec<(&'static str, Arc<dyn Middleware>)>,
    ) -> Result<()> {
        if let Some((kind, _)) = per_kind.iter().find(|(k, _)| !self.routes.contains_key(k)) {
            return Err(Error::InvalidWorker(format!(
                "middleware registered for job kind `{kind}`, which has no handler: register its handler too"
            )));
        }
        for route in self.routes.values_mut() {
            let own = per_kind.iter().filter(|(k, _)| *k == route.kind).map(|(_, m)| m.clone());
            route.layers = every.iter().cloned().chain(own).collect();
        }
        Ok(())
    }
}

/// Decodes args into `J`. Only when that fails are they decoded again, tracking the path, so
/// the message names the field (`items[3].qty: invalid type: ...`) at no cost to jobs that decode.
fn decode<J: serde::de::DeserializeOwned>(args: &str) -> Result<J, String> {
    let error = match serde_json::from_str(args) {
        Ok(job) => return Ok(job),
        Err(e) => e,
    };
    let mut de = serde_json::Deserializer::from_str(args);
    match serde_path_to_error::deserialize::<_, J>(&mut de) {
        Err(e) if e.path().iter().next().is_some() => Err(format!("{}: {}", e.path(), e.inner())),
        _ => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Order {
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        qty: i64,
    }

    #[test]
    fn a_decode_error_names_the_path_of_the_field() {
        let args = r#"{"items":[{"qty":1},{"qty":2},{"qty":3},{"qty":"x"}]}"#;
        let e = decode::<Order>(args).unwrap_err();
        assert!(e.starts_with("items[3].qty: invalid type: string \"x\", expected i64"), "{e}");
        let top = decode::<Order>("7").unwrap_err();
        assert!(top.contains("expected struct Order"), "{top}");
    }
}
