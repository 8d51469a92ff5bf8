//! `Client::doctor` tells whether a worker's sessions get their settings: straight to the
//! server and through PgBouncer configured as documented they do; without `connect_query`
//! PgBouncer drops them (a warning), and without `options` in `ignore_startup_parameters` it
//! refuses the worker's connections (a failure).

use crate::bouncer::{Bouncer, Ini};
use crate::common::TestDb;
use haul::doctor::{Check, Health};

async fn worker_session(client: &haul::Client) -> Check {
    let checkup = client.doctor().await.unwrap();
    checkup.checks.into_iter().find(|c| c.name == "worker session").expect("a worker session check")
}

#[tokio::test]
async fn doctor_tells_whether_worker_sessions_get_their_settings() {
    let db = TestDb::new().await;
    assert_eq!(worker_session(&db.client).await.health, Health::Ok, "straight to the server");
    let cases = [
        (Ini::DOCUMENTED, Health::Ok, "arrive"),
        (Ini { session: false, ..Ini::DOCUMENTED }, Health::Warn, "enable_nestloop = on (wanted off)"),
        (Ini { ignore_options: false, ..Ini::DOCUMENTED }, Health::Fail, "a worker connection fails"),
    ];
    for (ini, health, says) in cases {
        let Some(bouncer) = Bouncer::start_with(ini).await else { return };
        let check = worker_session(&db.client_at(&bouncer.url(), 2)).await;
        assert_eq!(check.health, health, "{ini:?}: {check:?}");
        assert!(check.detail.contains(says), "{ini:?}: {check:?}");
        if health != Health::Ok {
            assert!(check.fix.as_deref().is_some_and(|f| f.contains("connect_query")), "{check:?}");
        }
    }
}
