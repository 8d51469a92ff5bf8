//! A real throwaway cluster: made, reached over TCP and its unix socket, stopped, crashed,
//! restarted and dropped; a bad setting fails with PostgreSQL's own reason and leaves nothing;
//! folders of killed runs are swept while a live process's folder is kept.

use haul_pgtemp::{Cluster, Error, StopMode};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

/// Whether something accepts TCP connections on the cluster's port.
fn answers(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// This process's folders under the temporary directory with `prefix`.
fn folders(prefix: &str) -> Vec<PathBuf> {
    let mine = format!("{prefix}{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&mine))
        .map(|e| e.path())
        .collect()
}

#[test]
fn a_cluster_stops_restarts_and_is_deleted_when_dropped() {
    let cluster = Cluster::create("haul-pgtemp-life-", &[("fsync", "off")]).unwrap();
    let port = cluster.port();
    assert_eq!(cluster.url(), format!("postgres://postgres@127.0.0.1:{port}/postgres"));
    assert!(answers(port), "the new server accepts TCP connections");

    cluster.stop(StopMode::Fast).unwrap();
    assert!(!answers(port), "a stopped server refuses connections");

    cluster.start_socket_only().unwrap();
    assert!(!answers(port), "socket-only: TCP clients still find it down");
    let socket = cluster.socket_dir().join(format!(".s.PGSQL.{port}"));
    assert!(socket.exists(), "socket-only: the unix socket {socket:?} is there");

    cluster.stop(StopMode::Immediate).unwrap();
    cluster.start().unwrap();
    assert!(answers(port), "after a crash and crash recovery the same port answers");

    let dir = cluster.socket_dir().to_path_buf();
    drop(cluster);
    assert!(!dir.exists(), "dropping deletes the folder");
    assert!(!answers(port), "dropping stops the server");
}

#[test]
fn a_bad_setting_fails_with_the_servers_reason_and_leaves_nothing() {
    let err = Cluster::create("haul-pgtemp-bad-", &[("max_connections", "lots")]).unwrap_err();
    let Error::Tool { stderr, .. } = &err else { panic!("expected a tool error, got {err:?}") };
    assert!(stderr.contains("max_connections"), "the server log's reason is quoted: {stderr}");
    assert!(folders("haul-pgtemp-bad-").is_empty(), "no folder left behind");
}

#[test]
fn folders_of_killed_runs_are_swept_and_live_ones_kept() {
    let prefix = "haul-pgtemp-sweep-";
    let tmp = std::env::temp_dir();
    // a process that has exited: its pid names a folder nobody owns any more
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = tmp.join(format!("{prefix}{dead}-0000abcd"));
    let live = tmp.join(format!("{prefix}{}-keep", std::process::id()));
    for dir in [&stale, &live] {
        std::fs::create_dir_all(dir.join("data")).unwrap();
    }

    let cluster = Cluster::create(prefix, &[]).unwrap();

    assert!(!Path::new(&stale).exists(), "the dead process's folder is swept");
    assert!(live.exists(), "a live process's folder is kept");
    drop(cluster);
    std::fs::remove_dir_all(&live).unwrap();
}
