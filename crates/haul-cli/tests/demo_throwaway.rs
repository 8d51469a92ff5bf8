//! The newcomer's first command where no PostgreSQL answers: `haul demo` pointed at a port
//! nobody listens on starts a throwaway server (`haul-pgtemp`), runs the whole demo on it,
//! reports stats and dead letters, and leaves no folder behind.

use std::process::{Command, Stdio};

#[test]
fn the_demo_runs_on_a_throwaway_server_when_none_answers() {
    // port 9 (discard): refused at once on any machine without a discard service
    let nobody = "postgres://postgres@127.0.0.1:9/postgres";
    let child = Command::new(env!("CARGO_BIN_EXE_haul"))
        .args(["--database-url", nobody, "demo", "--emails", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the haul binary runs");
    let pid = child.id();
    let out = child.wait_with_output().expect("the demo ends");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the demo failed ({}):\n{stdout}\n{stderr}", out.status);
    assert!(stderr.contains("No PostgreSQL answers at"), "it says why it starts a server: {stderr}");
    assert!(stderr.contains("Started a throwaway PostgreSQL at"), "it says where: {stderr}");
    assert!(stdout.contains("Done in"), "the summary is printed: {stdout}");
    assert!(stdout.contains("Dead letters"), "the dead letters are listed: {stdout}");
    let folder = format!("haul-demo-pg-{pid}-");
    let leftover: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&folder))
        .collect();
    assert!(leftover.is_empty(), "the throwaway cluster's folder is deleted: {leftover:?}");
}
