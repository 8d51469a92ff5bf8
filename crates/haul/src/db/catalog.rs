//! What the server says about itself and about Haul's schema, for `Client::doctor`: its
//! version, the settings a queue depends on, the schema's indexes and their validity, the
//! oldest open transaction, and connections in use.

use super::{Db, render};
use crate::error::Result;
use std::sync::Arc;

const SERVER: &str = "SELECT current_setting('server_version_num')::int AS version_num, \
                      current_setting('server_version') AS version";

/// The settings `doctor` judges, by name.
const SETTINGS: &str = "SELECT name, setting FROM pg_settings WHERE name = ANY($2)";

/// Every index in Haul's schema, with the table it is on and whether it is usable (an index a
/// failed `CREATE INDEX CONCURRENTLY` left behind is not).
const INDEXES: &str = r#"
SELECT t.relname AS table_name, c.relname AS name, i.indisvalid AND i.indisready AS valid
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $2
ORDER BY t.relname, c.relname
"#;

/// The oldest transaction another session has open (it holds back every vacuum), if any.
const OLDEST_TRANSACTION: &str = r#"
SELECT pid, extract(epoch FROM now() - xact_start)::float8 AS seconds, state
FROM pg_stat_activity
WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND backend_type = 'client backend'
ORDER BY xact_start
LIMIT 1
"#;

const CONNECTIONS: &str = "SELECT count(*) AS used, current_setting('max_connections')::bigint AS max \
                           FROM pg_stat_activity WHERE backend_type = 'client backend'";

/// The rendered catalog statements for one schema.
pub(super) struct CatalogSql {
    server: Arc<str>,
    settings: Arc<str>,
    indexes: Arc<str>,
    oldest_transaction: Arc<str>,
    connections: Arc<str>,
}

impl CatalogSql {
    pub(super) fn new(schema: &str) -> Self {
        CatalogSql {
            server: render(SERVER, schema),
            settings: render(SETTINGS, schema),
            indexes: render(INDEXES, schema),
            oldest_transaction: render(OLDEST_TRANSACTION, schema),
            connections: render(CONNECTIONS, schema),
        }
    }
}

/// The server's version, as a number (150004) and as it prints it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ServerVersion {
    pub version_num: i32,
    pub version: String,
}

/// One setting's current value, as `pg_settings` shows it (in its own unit).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Setting {
    pub name: String,
    pub setting: String,
}

/// One index of Haul's schema.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct IndexState {
    pub table_name: String,
    pub name: String,
    pub valid: bool,
}

/// The oldest open transaction of another session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct OpenTransaction {
    pub pid: i32,
    pub seconds: f64,
    pub state: Option<String>,
}

/// Client connections in use, and the server's limit.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub(crate) struct Connections {
    pub used: i64,
    pub max: i64,
}

impl Db {
    pub(crate) async fn catalog_server(&self) -> Result<ServerVersion> {
        let q = self.query_as(&self.inner.catalog.server);
        self.with_conn(async |c| q.fetch_one(c).await).await
    }

    pub(crate) async fn catalog_settings(&self, names: &[&str]) -> Result<Vec<Setting>> {
        let q = self.query_as(&self.inner.catalog.settings).bind(names);
        self.with_conn(async |c| q.fetch_all(c).await).await
    }

    pub(crate) async fn catalog_indexes(&self) -> Result<Vec<IndexState>> {
        let q = self.query_as(&self.inner.catalog.indexes).bind(self.schema());
        self.with_conn(async |c| q.fetch_all(c).await).await
    }

    pub(crate) async fn catalog_oldest_transaction(&self) -> Result<Option<OpenTransaction>> {
        let q = self.query_as(&self.inner.catalog.oldest_transaction);
        self.with_conn(async |c| q.fetch_optional(c).await).await
    }

    pub(crate) async fn catalog_connections(&self) -> Result<Connections> {
        let q = self.query_as(&self.inner.catalog.connections);
        self.with_conn(async |c| q.fetch_one(c).await).await
    }
}
