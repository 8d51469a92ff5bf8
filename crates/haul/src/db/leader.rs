//! Every statement on the leader table: a lease row that elects one maintenance leader.
//! A row lease (not a session advisory lock) so election works through PgBouncer.

use super::{Db, render};
use crate::error::Result;
use std::sync::Arc;

const ATTEMPT_ELECT: &str = r#"
INSERT INTO {schema}.leader AS l (name, leader_id, elected_at, expires_at)
VALUES ('maintenance', $2, {now}, {now} + $3 * interval '1 millisecond')
ON CONFLICT (name) DO UPDATE
SET leader_id = EXCLUDED.leader_id,
    elected_at = CASE WHEN l.leader_id = EXCLUDED.leader_id THEN l.elected_at
                      ELSE EXCLUDED.elected_at END,
    expires_at = EXCLUDED.expires_at
WHERE l.expires_at < {now} OR l.leader_id = EXCLUDED.leader_id
RETURNING leader_id
"#;

const RESIGN: &str = "DELETE FROM {schema}.leader WHERE name = 'maintenance' AND leader_id = $2";

const GET: &str = r#"
SELECT leader_id FROM {schema}.leader WHERE name = 'maintenance' AND expires_at >= {now}
"#;

/// The rendered statements on `leader` for one schema.
pub(super) struct LeaderSql {
    attempt_elect: Arc<str>,
    resign: Arc<str>,
    get: Arc<str>,
}

impl LeaderSql {
    pub(super) fn new(schema: &str) -> Self {
        LeaderSql {
            attempt_elect: render(ATTEMPT_ELECT, schema),
            resign: render(RESIGN, schema),
            get: render(GET, schema),
        }
    }
}

/// The lease's holder.
#[derive(sqlx::FromRow)]
struct Leader {
    leader_id: String,
}

impl Db {
    /// Takes or renews the lease for `ttl_ms`; true when `id` holds it afterwards.
    pub(crate) async fn leader_attempt_elect(&self, id: &str, ttl_ms: i64) -> Result<bool> {
        let q = self.query(&self.inner.leader.attempt_elect).bind(id).bind(ttl_ms);
        Ok(self.with_conn(async |c| q.fetch_optional(c).await).await?.is_some())
    }

    /// Gives the lease up so another process can take it at once.
    pub(crate) async fn leader_resign(&self, id: &str) -> Result<()> {
        let q = self.query(&self.inner.leader.resign).bind(id);
        self.with_conn(async |c| q.execute(c).await).await?;
        Ok(())
    }

    /// The current leader, if its lease is live.
    pub(crate) async fn leader_get(&self) -> Result<Option<String>> {
        let q = self.query_as::<Leader>(&self.inner.leader.get);
        Ok(self.with_conn(async |c| q.fetch_optional(c).await).await?.map(|l| l.leader_id))
    }
}
