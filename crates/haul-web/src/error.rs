//! [`WebError`]: how a failed request answers (status and an escaped message), one mapping
//! from the library's errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A request the dashboard could not serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The library refused or failed.
    #[error(transparent)]
    Haul(#[from] haul::Error),
    /// A form or query value that does not parse.
    #[error("{0}")]
    BadInput(String),
    /// No such page or job.
    #[error("not found")]
    NotFound,
}

impl WebError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        use haul::Error as E;
        match self {
            WebError::BadInput(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound | WebError::Haul(E::BatchNotFound { .. } | E::SagaNotFound { .. }) => {
                StatusCode::NOT_FOUND
            }
            WebError::Haul(E::InvalidFilter(_) | E::InvalidName { .. } | E::InvalidConfig { .. }) => {
                StatusCode::BAD_REQUEST
            }
            WebError::Haul(E::JobNotFound { .. }) => StatusCode::CONFLICT,
            WebError::Haul(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "dashboard request failed");
            "the dashboard could not read the queue; see the server's log".to_owned()
        } else {
            self.to_string()
        };
        (status, crate::render::error_page(status, &message)).into_response()
    }
}
